#!/usr/bin/env bash
# The demo: the sample app's pipeline on the embedded Temporal server and the
# local platform (`make platform-up`): build and test run in a warm pod of
# the "go" pool, BuildKit bakes the image and pushes it by digest, it is
# deployed to the run's own namespace and the integration Job runs against
# it, chaos experiments kill one of its pods, then drain the node of one,
# while probing it and check the error window stayed within its SLO, the tested digest is tagged "available", then the approval is answered
# through the same API a person uses; the namespace goes when the run ends,
# and production releases blue-green into sluice-demo-hello. A second push
# is released beside the first (verified in green, traffic switched, blue
# retired after the grace period), then `sluice rollback` brings the first
# release back. Everything lives in a temporary directory and the
# namespaces the demo made, all removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
SLUICE=$PWD/bin/sluice
work=$(mktemp -d)
chmod 711 "$work"   # run as root, build steps run as an unprivileged user who must pass through
dev_pid=""
cleanup() {
  [ -n "$dev_pid" ] && kill "$dev_pid" 2>/dev/null && wait "$dev_pid" 2>/dev/null
  [ -n "${KUBECONFIG:-}" ] && kubectl delete namespace sluice-demo-builds sluice-demo-hello --wait=false >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export SLUICE_TEMPORAL_ADDRESS=127.0.0.1:${DEMO_TEMPORAL_PORT:-$(port)}
export SLUICE_SERVER=http://127.0.0.1:${DEMO_HTTP_PORT:-$(port)}
ui_port=${DEMO_UI_PORT:-$(port)}
export SLUICE_UI_URL=http://127.0.0.1:$ui_port
export SLUICE_TOKEN_FILE=$work/data/api-token   # the API token sluice dev writes

eval "$(testenv/platform/env.sh)"
[ -f "$KUBECONFIG" ] || { echo "the demo needs the local platform: run make platform-up" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "a Git repository with the sample app, committed by carol@example.com"
cp -r examples/hello "$work/hello"
if [ "${DEMO:-}" = core ]; then
  # the quick demo: build and test in the pool, then the approval gate
  cat >"$work/hello/.sluice.yml" <<'YML'
version: 1
name: hello
build: {pool: go, commands: [hostname, CGO_ENABLED=0 go build -o hello .]}
test: {commands: [go test -count=1 ./...]}
approval: {approvers: {users: [alice, bob]}}
YML
fi
git -C "$work/hello" init -q -b main
git -C "$work/hello" add -A
git -C "$work/hello" -c user.name=carol -c user.email=carol@example.com commit -q -m "hello: first version"
git -C "$work/hello" log --oneline

say "the server configuration: a warm pool of Go build pods on the local cluster"
cat >"$work/sluice.yml" <<YML
pools:
  - name: go
    image: $SLUICE_REGISTRY/sluice/go-builder:latest
    namespace: sluice-demo-builds
    min_idle: 1
    max_total: 3
    requests: {cpu: 250m, memory: 256Mi}
    limits: {cpu: "2", memory: 2Gi}
    cache: {host_path: /var/cache/sluice-demo-pool, paths: [/root/.cache/go-build, /root/go/pkg/mod]}
YML
cat "$work/sluice.yml"

say "sluice dev: embedded Temporal + Web UI + worker (keeping the pool) + HTTP API"
"$SLUICE" dev --config "$work/sluice.yml" --kubeconfig "$KUBECONFIG" --vulnerability-db examples/vulndb --buildkit-addr "$SLUICE_BUILDKIT_ADDR" --registry "$SLUICE_REGISTRY" --data-dir "$work/data" --step-home /var/tmp/sluice-demo-step-home --temporal-port "${SLUICE_TEMPORAL_ADDRESS##*:}" \
  --http-port "${SLUICE_SERVER##*:}" --ui-port "$ui_port" >"$work/dev.log" 2>"$work/dev.err" &
dev_pid=$!
for _ in $(seq 100); do grep -q "Sluice dev is running" "$work/dev.log" && break; sleep 0.1; done
cat "$work/dev.log"

say "sluice lint (build.pool checked against the server's pools)"
"$SLUICE" lint "$work/hello/.sluice.yml" --config "$work/sluice.yml"

say "sluice pool list"
for _ in $(seq 300); do "$SLUICE" pool list --config "$work/sluice.yml" --output json | grep -q '"idle": *[1-9]' && break; sleep 0.2; done
"$SLUICE" pool list --config "$work/sluice.yml"

say "the production namespace (Sluice releases into it and keeps its release records there)"
kubectl delete namespace sluice-demo-hello --ignore-not-found >/dev/null
kubectl create namespace sluice-demo-hello

start_run() {
  "$SLUICE" run --repo "$work/hello" --ref main --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])'
}
wait_approval() {
  for _ in $(seq 1500); do
    state=$("$SLUICE" status "$1" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
    [ "$state" = awaiting_approval ] && break
    case $state in succeeded|failed|cancelled|rejected|timed_out) echo "run ended early: $state"; "$SLUICE" status "$1"; exit 1;; esac
    sleep 0.2
  done
  "$SLUICE" status "$1"
}

say "sluice run"
run=$(start_run)
echo "run_id $run"

say "waiting for the approval gate"
wait_approval "$run"

say "the run's test environment while it waits for approval"
kubectl get deployment,service,pods -n "$(kubectl get ns -l sluice.dev/run="${run##*@}" -o name | head -1 | cut -d/ -f2)" -o wide || true

say "mallory is not an approver: refused, and the refusal is recorded in the run"
"$SLUICE" approve "$run" --as mallory || true

say "alice approves"
"$SLUICE" approve "$run" --as alice --comment "looks good"
"$SLUICE" status "$run" --wait
[ "$("$SLUICE" status "$run" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = succeeded ] || { echo "the run did not succeed"; exit 1; }

say "the run's log (build and test in the pool pod: see its hostname; BuildKit's steps; the rollout; the integration Job)"
"$SLUICE" logs "$run"

if [ "${DEMO:-}" = core ]; then say "done: build, test and approval (DEMO=core)"; exit 0; fi

say "the chaos phase: a pod of the test environment killed, then a node drained, while probed (sluice chaos status)"
for exp in pod-kill node-drain; do
  chaos_id=$("$SLUICE" status "$run" --output json | EXP=$exp python3 -c 'import json,os,sys,re; print(re.search(r"\(([^)]*/chaos/" + os.environ["EXP"] + r")\)", json.load(sys.stdin)["outputs"]["chaos_summary"]).group(1))')
  "$SLUICE" chaos status "$chaos_id"
done

say "the image: pushed by digest, tagged with the commit and marked available"
digest=$("$SLUICE" status "$run" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["outputs"]["digest"])')
echo "run's digest:      $digest"
echo "hello:available -> $(crane digest --insecure "$SLUICE_REGISTRY/sluice-demo/hello:available")"

releases() { "$SLUICE" releases -f "$work/hello/.sluice.yml" --kubeconfig "$KUBECONFIG"; }
say "the image is signed for its commit, and replicated to the production registry"
"$SLUICE" verify "$SLUICE_REGISTRY/sluice-demo/hello@$digest" --key "$work/data/signing.key.pub"
"$SLUICE" verify "${SLUICE_PROD_REGISTRY:-127.0.0.1:5001}/sluice-demo/hello@$digest" --key "$work/data/signing.key.pub"

say "production: release v1 is live in blue"
releases
kubectl get deployment,service -n sluice-demo-hello -o wide
prod_url="http://$(kubectl get service hello -n sluice-demo-hello -o jsonpath='{.spec.clusterIP}')"
echo "production URL (the Service's cluster address, reachable from this node): $prod_url"
curl -fsS --max-time 5 --retry 3 --retry-all-errors "$prod_url/?name=demo" && curl -fsS --max-time 5 "$prod_url/version"

say "a second push (version 2): released in green beside blue, verified through hello-preview, then switched"
sed -i 's/Version = "1"/Version = "2"/' "$work/hello/main.go"
git -C "$work/hello" -c user.name=carol -c user.email=carol@example.com commit -qam "hello: version 2"
run2=$(start_run)
echo "run_id $run2"
wait_approval "$run2" >/dev/null
"$SLUICE" approve "$run2" --as bob --comment "v2"
"$SLUICE" status "$run2" --wait
[ "$("$SLUICE" status "$run2" --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = succeeded ] || { echo "the second run did not succeed"; exit 1; }
"$SLUICE" logs "$run2" | grep "production |"
releases
echo "$prod_url/version now:"; curl -fsS --max-time 5 --retry 5 --retry-all-errors "$prod_url/version"
kubectl get deployment,service -n sluice-demo-hello -o wide

say "sluice rollback: release v1 comes back as v3 (blue), green scales to zero"
"$SLUICE" rollback -f "$work/hello/.sluice.yml" --reason "demo: v2 goes back to v1"
releases
kubectl get deployment,service -n sluice-demo-hello -o wide
[ "$(kubectl get service hello -n sluice-demo-hello -o jsonpath='{.spec.selector.sluice\.dev/color}')" = blue ] || { echo "traffic is not back on blue"; exit 1; }
echo "$prod_url/version after the rollback:"; curl -fsS --max-time 5 --retry 5 --retry-all-errors "$prod_url/version"
say "done: all nine phases (with the chaos experiments), two releases and a rollback"
