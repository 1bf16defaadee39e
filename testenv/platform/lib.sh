# Shared settings of the local platform scripts. Sourced, not run.
# Everything the platform writes lives under $STATE; it starts processes and
# stops them by their PID files there, never by name.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${SLUICE_PLATFORM_STATE:-/var/lib/sluice-platform}
RUN=$STATE/run
LOGS=$STATE/logs
PKI=$STATE/pki
REGISTRY=127.0.0.1:5000
# a second registry playing the production registry promote replicates to
PROD_REGISTRY=127.0.0.1:5001
BUILDKIT_SOCK=$RUN/buildkitd.sock
PROMETHEUS_ADDR=127.0.0.1:19090
ALERTMANAGER_ADDR=127.0.0.1:19093
CONTAINERD_SOCK=$RUN/containerd/containerd.sock
# Two nodes on this one machine, each its own containerd, CNI bridge, pod
# range, kubelet and cgroup subtree, in zones zone-a and zone-b (node.sh).
NODE=$(hostname)
NODE_B=$NODE-b
BRIDGE=sluice0
POD_CIDR=10.244.0.0/24
# every node's pods (kube-proxy's cluster range)
CLUSTER_CIDR=10.244.0.0/16
# the bridge's address: the host as pods reach it
POD_GATEWAY=10.244.0.1
export PATH=/usr/local/go/bin:$PATH
mkdir -p "$RUN" "$LOGS"

log() { printf '[platform] %s\n' "$*" >&2; }
node_ip() { ip -4 route get 1.1.1.1 2>/dev/null | awk '{for(i=1;i<=NF;i++) if($i=="src") print $(i+1)}'; }

# bin_dir prints the cached binaries' directory, building them if needed.
bin_dir() { [ -n "${BIN:-}" ] || BIN=$("$HERE/build.sh"); echo "$BIN"; }

# write_if_changed FILE: stdin becomes FILE only if it differs, because
# kube-proxy exits when its configuration file is touched.
write_if_changed() { local tmp; tmp=$(mktemp)
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi; }

running() { local f=$RUN/$1.pid; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

# start NAME CMD...: run in the background, log to $LOGS/NAME.log, PID to $RUN/NAME.pid.
start() { local n=$1; shift; running "$n" && return 0
  nohup "$@" >"$LOGS/$n.log" 2>&1 & echo $! >"$RUN/$n.pid"; log "started $n (pid $!)"; }

# wait_for WHAT SECONDS CMD...: retry CMD until it succeeds.
wait_for() { local what=$1 secs=$2; shift 2
  for _ in $(seq $((secs * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "$what did not become ready in ${secs}s; last log lines:"; tail -20 "$LOGS/${what%% *}.log" >&2 || true; return 1; }

# node_vars a|b|NODE-NAME: the settings of one node, as N_* variables.
node_vars() {
  local n=$1
  [ "$n" = "$NODE" ] && n=a
  [ "$n" = "$NODE_B" ] && n=b
  case "$n" in
    a) N_NAME=$NODE N_ZONE=zone-a N_SFX="" N_BRIDGE=$BRIDGE N_CIDR=$POD_CIDR
       N_PORT=10250 N_HEALTHZ=10248 N_CGROOT=/ N_CERT=kubelet ;;
    b) N_NAME=$NODE_B N_ZONE=zone-b N_SFX=-b N_BRIDGE=sluice1 N_CIDR=10.244.1.0/24
       N_PORT=10350 N_HEALTHZ=10348 N_CGROOT=/sluice-b N_CERT=kubelet-b ;;
    *) log "no node $1 (a, b, $NODE or $NODE_B)"; return 1 ;;
  esac
  N_SOCK=$RUN/containerd$N_SFX/containerd.sock
}

stop() { local f=$RUN/$1.pid p; [ -f "$f" ] || return 0; p=$(cat "$f")
  if kill -0 "$p" 2>/dev/null; then kill "$p"
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null || true
  fi
  rm -f "$f"; log "stopped $1"; }

env_lines() {
  cat <<ENV
export KUBECONFIG=$STATE/admin.kubeconfig
export SLUICE_BUILDKIT_ADDR=unix://$BUILDKIT_SOCK
export SLUICE_REGISTRY=$REGISTRY
export SLUICE_PROD_REGISTRY=$PROD_REGISTRY
export SLUICE_PLATFORM_STATE=$STATE
export SLUICE_POD_GATEWAY=$POD_GATEWAY
export SLUICE_POD_GATEWAY_NODE=$NODE
export SLUICE_PROMETHEUS_URL=http://$PROMETHEUS_ADDR
export SLUICE_ALERTMANAGER_URL=http://$ALERTMANAGER_ADDR
export SLUICE_ALERTMANAGER_TOKEN_FILE=$STATE/monitoring/alertmanager.token
export PATH=$(bin_dir):\$PATH
ENV
}
