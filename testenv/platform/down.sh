#!/usr/bin/env bash
# Stop everything up.sh started (by PID file only) and restore the host:
# pods and their network namespaces, mounts, the CNI bridge, the iptables
# chains of the kubelet, kube-proxy and CNI, cgroups, runtime directories and
# sysctls. Fine to run when nothing is up. Keeps the cached binaries, the
# registry's images and the certificates.
. "$(dirname "$0")/lib.sh"
set +e
B=${BIN:-$(ls -d "${SLUICE_PLATFORM_CACHE:-/var/cache/sluice-platform}"/*/bin 2>/dev/null | head -1)}
K="$B/kubectl --kubeconfig=$STATE/admin.kubeconfig --request-timeout=10s"
CTR="ctr --address $CONTAINERD_SOCK -n k8s.io"
t0=$(date +%s)

stop prom-sd; stop prometheus; stop alertmanager
stop kube-controller-manager
if running kubelet && $K get --raw /readyz >/dev/null 2>&1; then
  # let the kubelet tear pods down itself (CNI DEL, netns removal)
  $K delete pods -A --all --grace-period=1 --wait=false >/dev/null 2>&1
  for _ in $(seq 90); do [ -z "$($K get pods -A --no-headers 2>/dev/null)" ] && break; sleep 1; done
fi
stop kube-proxy
[ -x "$B/kube-proxy" ] && [ -f "$STATE/kube-proxy.yaml" ] && "$B/kube-proxy" --cleanup --config="$STATE/kube-proxy.yaml" >/dev/null 2>&1
stop kubelet; stop kubelet-b; stop kube-scheduler; stop kube-apiserver
for sock in "$CONTAINERD_SOCK" "$RUN/containerd-b/containerd.sock"; do
  [ -S "$sock" ] || continue
  CTR="ctr --address $sock -n k8s.io"
  for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks kill -s SIGKILL "$t" 2>/dev/null; done; sleep 1
  for t in $($CTR tasks ls -q 2>/dev/null); do $CTR tasks rm -f "$t" >/dev/null 2>&1; done
  for c in $($CTR containers ls -q 2>/dev/null); do $CTR containers rm "$c" >/dev/null 2>&1; done
done
stop containerd; stop containerd-b; stop coredns; stop etcd; stop buildkitd; stop registry; stop registry-prod
# shims of our containerds, recognised by our sockets on their command line
for p in $(pgrep -f "containerd-shim-runc-v2 .*-address $RUN/containerd(-b)?/containerd.sock" 2>/dev/null); do kill "$p" 2>/dev/null; done

findmnt -rn -o TARGET | grep "^$STATE/" | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
for n in /var/run/netns/cni-*; do [ -e "$n" ] || continue; umount "$n" 2>/dev/null; rm -f "$n"; done
rmdir /var/run/netns 2>/dev/null
# sockets of shims that were killed (a node taken down) and never removed
# them: stale when nothing listens on them any more
for f in /run/containerd/s/*; do
  [ -S "$f" ] || continue
  ss -xl 2>/dev/null | grep -qF "$f" || rm -f "$f"
done
rmdir /run/containerd/s /run/containerd/runc/k8s.io /run/containerd/runc /run/containerd 2>/dev/null
for l in /var/log/containers/*.log; do [ -L "$l" ] && case "$(readlink "$l")" in "$STATE"/*) rm -f "$l" ;; esac; done
rmdir /var/log/containers /var/log/pods 2>/dev/null
rm -f /var/lib/kubelet/device-plugins/kubelet.sock; rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null
for br in "$BRIDGE" sluice1; do ip link del "$br" 2>/dev/null && log "deleted bridge $br"; done
# CNI's chains of our network, found by their comment
chains=$( { iptables-save -t nat 2>/dev/null | grep 'name: \\"sluice\\"' | grep -o -- '-j CNI-[0-9a-f]*' | awk '{print $2}'
            iptables-save -t nat 2>/dev/null | grep 'name: \\"sluice\\"' | awk '/^-A CNI-/{print $2}'; } | sort -u)
iptables-save -t nat 2>/dev/null | grep -E '^-A POSTROUTING .*name: \\"sluice\\"' | sed 's/^-A/-D/' | while read -r r; do eval iptables -t nat "$r"; done
for c in $chains; do iptables -t nat -F "$c" && iptables -t nat -X "$c"; done
iptables -t nat -D POSTROUTING -s 10.244.0.0/16 ! -d 10.244.0.0/16 -m comment --comment "sluice pod egress" -j MASQUERADE 2>/dev/null
# the kubelet's own chains
for ipt in iptables ip6tables; do
  $ipt -D INPUT -j KUBE-FIREWALL 2>/dev/null; $ipt -D OUTPUT -j KUBE-FIREWALL 2>/dev/null
  for t in filter nat mangle; do for c in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
    $ipt -t "$t" -F "$c" 2>/dev/null && $ipt -t "$t" -X "$c" 2>/dev/null; done; done
done
for s in /sys/fs/cgroup/*/; do for d in kubepods sluice-b; do
  [ -d "$s/$d" ] && find "$s/$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done; done
if [ -f "$STATE/sysctl.orig" ]; then sed 's/ //g' "$STATE/sysctl.orig" | xargs -r sysctl -qw && rm -f "$STATE/sysctl.orig" && log "sysctls restored"; fi
# state that must not survive into the next start (keep pki, registry, buildkit cache)
rm -rf "$STATE/monitoring/prometheus-data" "$STATE/monitoring/alertmanager-data" "$STATE/monitoring/targets"
rm -rf "$STATE/etcd" "$STATE/kubelet" "$STATE/kubelet-b" "$STATE/containerd" "$STATE/containerd-b" "$STATE/cni" "$STATE/cni-b" "$RUN"
log "platform down in $(( $(date +%s) - t0 ))s"
exit 0
