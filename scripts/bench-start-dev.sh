#!/usr/bin/env bash
# The orchestration benchmark side by side in one run: on Sluice's embedded
# Temporal server, then on `temporal server start-dev` (temporalio/cli,
# built once into the Go build cache's bin) with an in-memory and with a
# file database, and once more with the file database and the settings of
# `sluice dev`'s server (devserver: one task queue partition, the transfer
# queue read without a rate limit; activities handed to the worker
# eagerly, the default of the server Sluice embeds, not of the CLI's), so
# the two servers are compared on equal settings. Prints each benchmark's
# lines under a heading.
set -euo pipefail
cd "$(dirname "$0")/.."
CLI_VERSION=v1.5.1
bin=${XDG_CACHE_HOME:-$HOME/.cache}/sluice-bench/temporal-cli-$CLI_VERSION
if [ ! -x "$bin/temporal" ]; then
  echo "building temporal CLI $CLI_VERSION (once)"
  GOBIN=$bin go install github.com/temporalio/cli/cmd/temporal@$CLI_VERSION
fi
bench() { go test -count=1 -run '^$' -bench OrchestrationOverhead -benchtime "${N:-30}x" ./worker | grep Benchmark; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
dir=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null && wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
startdev() {
  "$bin/temporal" server start-dev --headless --ip 127.0.0.1 --port "$port" --log-level error "$@" >"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do "$bin/temporal" operator cluster health --address "127.0.0.1:$port" >/dev/null 2>&1 && return; sleep 0.2; done
  cat "$dir/log"; exit 1
}
echo "== embedded (sluice dev's server, SQLite file)"; bench
echo "== temporal server start-dev $CLI_VERSION, in-memory"; startdev
SLUICE_BENCH_TEMPORAL=127.0.0.1:$port bench; kill $pid; wait $pid 2>/dev/null || true
echo "== temporal server start-dev $CLI_VERSION, --db-filename"; startdev --db-filename "$dir/temporal.db"
SLUICE_BENCH_TEMPORAL=127.0.0.1:$port bench
kill $pid; wait $pid 2>/dev/null || true
echo "== temporal server start-dev $CLI_VERSION, --db-filename, sluice dev's dynamic config"
startdev --db-filename "$dir/temporal-tuned.db" \
  --dynamic-config-value history.transferProcessorMaxPollRPS=10000 \
  --dynamic-config-value matching.numTaskqueueReadPartitions=1 \
  --dynamic-config-value matching.numTaskqueueWritePartitions=1 \
  --dynamic-config-value system.enableActivityEagerExecution=true
SLUICE_BENCH_TEMPORAL=127.0.0.1:$port bench
