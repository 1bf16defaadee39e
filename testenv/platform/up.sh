#!/usr/bin/env bash
# Bring up Sluice's local platform on this machine: an OCI registry on
# 127.0.0.1:5000 (and a "production" one on :5001), buildkitd on a unix
# socket, and a two-node Kubernetes (etcd, kube-apiserver, controller-manager,
# scheduler, CoreDNS, kube-proxy; per node containerd + runc + CNI bridge and
# a kubelet, nodes in zones zone-a and zone-b), and Prometheus with
# Alertmanager (monitoring.sh). Idempotent: what already runs is kept.
# Ends by printing the shell exports for the platform.
. "$(dirname "$0")/lib.sh"
t0=$(date +%s)

# --- host packages -----------------------------------------------------------
need=()
for pair in containerd:containerd runc:runc iptables:iptables conntrack:conntrack socat:socat openssl:openssl busybox:busybox-static; do
  command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
done
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
# Prometheus and Alertmanager: installed without starting Debian's own
# services (a policy-rc.d we add is removed again); the platform runs its own
[ -x /usr/bin/prometheus ] || need+=(prometheus)
[ -x /usr/bin/prometheus-alertmanager ] || need+=(prometheus-alertmanager)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && added_policy=1
  fi
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$added_policy" ] || rm -f /usr/sbin/policy-rc.d
fi
B=$(bin_dir)
[ -f "$STATE/sysctl.orig" ] || sysctl vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops net.ipv4.ip_forward >"$STATE/sysctl.orig"

# --- registry ----------------------------------------------------------------
mkdir -p "$STATE/registry"
cat >"$STATE/registry.yml" <<YML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $STATE/registry}
  delete: {enabled: true}
http: {addr: $REGISTRY}
YML
OTEL_TRACES_EXPORTER=none start registry "$B/registry" serve "$STATE/registry.yml"
wait_for registry 20 curl -fsS "http://$REGISTRY/v2/"
mkdir -p "$STATE/registry-prod"
sed -e "s|$STATE/registry|$STATE/registry-prod|" -e "s|addr: $REGISTRY|addr: $PROD_REGISTRY|" "$STATE/registry.yml" >"$STATE/registry-prod.yml"
OTEL_TRACES_EXPORTER=none start registry-prod "$B/registry" serve "$STATE/registry-prod.yml"
wait_for registry-prod 20 curl -fsS "http://$PROD_REGISTRY/v2/"

# --- buildkitd ---------------------------------------------------------------
cat >"$STATE/buildkitd.toml" <<TOML
root = "$STATE/buildkit"
[grpc]
  address = ["unix://$BUILDKIT_SOCK"]
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  binary = "runc"
  gc = true
  gckeepstorage = "5GB"
[worker.containerd]
  enabled = false
[registry."$REGISTRY"]
  http = true
  insecure = true
TOML
start buildkitd "$B/buildkitd" --config "$STATE/buildkitd.toml"
wait_for buildkitd 30 "$B/buildctl" --addr "unix://$BUILDKIT_SOCK" debug workers

# --- images, built from scratch and pushed ---------------------------------
"$HERE/images.sh"

# --- certificates and kubeconfigs ------------------------------------------
"$HERE/certs.sh"

# --- control plane -----------------------------------------------------------
IP=$(node_ip)
start etcd "$B/etcd" --name sluice --data-dir "$STATE/etcd" \
  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
  --initial-cluster sluice=http://127.0.0.1:2380 --unsafe-no-fsync
wait_for etcd 30 curl -fsS http://127.0.0.1:2379/health
start kube-apiserver "$B/kube-apiserver" --bind-address=0.0.0.0 --advertise-address="$IP" --secure-port=6443 \
  --etcd-servers=http://127.0.0.1:2379 \
  --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --authorization-mode=Node,RBAC \
  --enable-admission-plugins=NodeRestriction --allow-privileged=true --profiling=false \
  --default-not-ready-toleration-seconds=30 --default-unreachable-toleration-seconds=30 \
  --kubelet-preferred-address-types=InternalIP,Hostname
wait_for kube-apiserver 60 curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" https://127.0.0.1:6443/readyz
for c in controller-manager scheduler; do
  kc=$STATE/$c.kubeconfig
  extra=()
  [ $c = controller-manager ] && extra=(--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt"
    --use-service-account-credentials=true --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" --allocate-node-cidrs=false
    --node-monitor-grace-period=20s)
  start kube-$c "$B/kube-$c" --bind-address=127.0.0.1 --kubeconfig="$kc" --authentication-kubeconfig="$kc" \
    --authorization-kubeconfig="$kc" --leader-elect=false "${extra[@]}"
done
wait_for kube-controller-manager 60 curl -fsSk https://127.0.0.1:10257/healthz
wait_for kube-scheduler 60 curl -fsSk https://127.0.0.1:10259/healthz

# --- cluster DNS, then the nodes: containerd, CNI, kubelet (and kube-proxy) --
# A node that is lost is marked NotReady after 20 s and its pods are evicted
# 30 s later (defaults: 50 s and 5 min), so node faults play out in a test.
"$HERE/dns.sh"
"$HERE/node.sh" a
"$HERE/node.sh" b

export KUBECONFIG=$STATE/admin.kubeconfig
wait_for "kubelet (node Ready)" 90 "$B/kubectl" wait --for=condition=Ready "node/$NODE" --timeout=2s
wait_for "kubelet-b (node Ready)" 90 "$B/kubectl" wait --for=condition=Ready "node/$NODE_B" --timeout=2s
wait_for "default service account" 60 "$B/kubectl" get sa default -n default
"$HERE/monitoring.sh"
log "platform up in $(( $(date +%s) - t0 ))s"
env_lines
