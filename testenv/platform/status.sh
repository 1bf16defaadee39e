#!/usr/bin/env bash
# Say what of the platform runs and is healthy; exit 0 only when all is.
. "$(dirname "$0")/lib.sh"
set +e
B=$(ls -d "${SLUICE_PLATFORM_CACHE:-/var/cache/sluice-platform}"/*/bin 2>/dev/null | head -1)
ok=0
check() { local name=$1; shift
  if running "$name" && "$@" >/dev/null 2>&1; then printf '  %-24s healthy\n' "$name"
  elif running "$name"; then printf '  %-24s running, NOT healthy\n' "$name"; ok=1
  else printf '  %-24s not running\n' "$name"; ok=1; fi; }
echo "platform state: $STATE"
check registry curl -fsS "http://$REGISTRY/v2/"
check registry-prod curl -fsS "http://$PROD_REGISTRY/v2/"
check buildkitd "$B/buildctl" --addr "unix://$BUILDKIT_SOCK" debug workers
check etcd curl -fsS http://127.0.0.1:2379/health
check kube-apiserver curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" https://127.0.0.1:6443/readyz
check kube-controller-manager curl -fsSk https://127.0.0.1:10257/healthz
check kube-scheduler curl -fsSk https://127.0.0.1:10259/healthz
check coredns curl -fsS http://127.0.0.1:18054/health
check containerd ctr --address "$CONTAINERD_SOCK" version
check kubelet "$B/kubectl" --kubeconfig="$STATE/admin.kubeconfig" wait --for=condition=Ready "node/$NODE" --timeout=3s
check containerd-b ctr --address "$RUN/containerd-b/containerd.sock" version
check kubelet-b "$B/kubectl" --kubeconfig="$STATE/admin.kubeconfig" wait --for=condition=Ready "node/$NODE_B" --timeout=3s
check kube-proxy curl -fsS http://127.0.0.1:10256/healthz
check prometheus curl -fsS "http://$PROMETHEUS_ADDR/-/ready"
check alertmanager curl -fsS "http://$ALERTMANAGER_ADDR/-/ready"
check prom-sd test -s "$STATE/monitoring/targets/pods.json"
exit $ok
