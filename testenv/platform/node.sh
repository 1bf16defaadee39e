#!/usr/bin/env bash
# One of the cluster's two nodes on this machine: node.sh [start] NODE brings
# it up (idempotent), node.sh stop NODE takes it down the way a host that
# loses power goes (kubelet stopped, every container killed, containerd
# stopped). NODE is a or b, or the node's name. Workers on this platform
# use it as their chaos.node_power (node-down and zone-down faults).
#
# Each node has its own containerd (root, state, socket; images pulled from
# the local registry over plain HTTP), its own CNI bridge and pod range, its
# own kubelet (ports, root dir, client certificate, cgroup subtree) and a
# zone label; the host routes between the bridges. One kube-proxy serves
# both, since both live in the host's network namespace.
. "$(dirname "$0")/lib.sh"
action=start
case "${1:-}" in start|stop) action=$1; shift ;; esac
node_vars "${1:-a}"
B=$(bin_dir)
CD=$STATE/containerd$N_SFX KD=$STATE/kubelet$N_SFX CNI=$STATE/cni$N_SFX

if [ "$action" = stop ]; then
  stop "kubelet$N_SFX"
  if [ -S "$N_SOCK" ]; then
    CTR="ctr --address $N_SOCK -n k8s.io"
    for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks kill -s SIGKILL "$t" 2>/dev/null || true; done
  fi
  stop "containerd$N_SFX"
  for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $N_SOCK" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  log "node $N_NAME down"
  exit 0
fi

mkdir -p "$RUN/containerd$N_SFX" "$CNI/net.d" "$CD" "$KD"
sysctl -qw net.ipv4.ip_forward=1
# the kubelet's cgroup subtree (cgroup v1: one per hierarchy; cpuset needs
# its cpus and mems before it can hold anything)
if [ "$N_CGROOT" != / ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
  for h in /sys/fs/cgroup/*/; do
    [ -L "${h%/}" ] && continue
    mkdir -p "$h${N_CGROOT#/}"
    if [ -f "${h}cpuset.cpus" ]; then
      cat "${h}cpuset.cpus" >"$h${N_CGROOT#/}/cpuset.cpus"; cat "${h}cpuset.mems" >"$h${N_CGROOT#/}/cpuset.mems"
    fi
  done
elif [ "$N_CGROOT" != / ]; then
  mkdir -p "/sys/fs/cgroup${N_CGROOT}"
fi
cat >"$CD/config.toml" <<TOML
version = 2
root = "$CD/root"
state = "$CD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$N_SOCK"
[ttrpc]
  address = "$N_SOCK.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REGISTRY/sluice/pause:3.10"
  # This VM lacks CAP_SYS_RESOURCE: negative oom_score_adj values make runc
  # fail ("can't get final child's PID from pipe: EOF"); clamp them instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$CD/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$REGISTRY"]
    endpoint = ["http://$REGISTRY"]
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."$PROD_REGISTRY"]
    endpoint = ["http://$PROD_REGISTRY"]
[plugins."io.containerd.internal.v1.opt"]
  path = "$CD/opt"
TOML
# Both nodes' networks are named "sluice": down.sh finds the CNI's iptables
# chains by that name. Pods talk to pods of either node with their own
# addresses (as on a real cluster network: a network policy or partition
# sees who is talking); only traffic leaving the pod range is masqueraded,
# by one host rule instead of the bridge plugin's per-node ipMasq.
rule=(POSTROUTING -s "$CLUSTER_CIDR" ! -d "$CLUSTER_CIDR" -m comment --comment "sluice pod egress" -j MASQUERADE)
iptables -t nat -C "${rule[@]}" 2>/dev/null || iptables -t nat -A "${rule[@]}"
cat >"$CNI/net.d/10-sluice.conflist" <<JSON
{ "cniVersion": "1.0.0", "name": "sluice",
  "plugins": [
    { "type": "bridge", "bridge": "$N_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "ranges": [[{ "subnet": "$N_CIDR" }]],
                "routes": [{ "dst": "0.0.0.0/0" }], "dataDir": "$CNI/ipam" } },
    { "type": "portmap", "capabilities": { "portMappings": true } } ] }
JSON
start "containerd$N_SFX" containerd --config "$CD/config.toml"
wait_for "containerd$N_SFX" 30 ctr --address "$N_SOCK" version

serving=$PKI/$N_CERT-serving
[ "$N_CERT" = kubelet ] && serving=$PKI/kubelet-serving
cat >"$KD/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $N_CGROOT
port: $N_PORT
healthzPort: $N_HEALTHZ
containerRuntimeEndpoint: unix://$N_SOCK
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $serving.crt
tlsPrivateKeyFile: $serving.key
clusterDomain: cluster.local
clusterDNS: [10.96.0.10]
failSwapOn: false
podLogsDir: $KD/pod-logs
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
serializeImagePulls: false
YAML
start "kubelet$N_SFX" "$B/kubelet" --config="$KD/config.yaml" --kubeconfig="$STATE/$N_CERT.kubeconfig" \
  --root-dir="$KD/root" --hostname-override="$N_NAME" --node-ip="$(node_ip)" \
  --node-labels="topology.kubernetes.io/zone=$N_ZONE" --v=1
[ "$N_SFX" = "" ] || exit 0

write_if_changed "$STATE/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $CLUSTER_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, udpTimeout: 0s, udpStreamTimeout: 0s}
YAML
start kube-proxy "$B/kube-proxy" --config="$STATE/kube-proxy.yaml" --hostname-override="$NODE"
wait_for kube-proxy 30 curl -fsS http://127.0.0.1:10256/healthz
