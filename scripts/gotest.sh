#!/usr/bin/env bash
# Run `go test "$@"`, showing its output as it comes, and keep each
# package's result line in $SLUICE_TEST_TIMES (default bin/test-times) so
# `scripts/gotest.sh --slowest` can list where the test time went.
set -uo pipefail
log=${SLUICE_TEST_TIMES:-bin/test-times}
if [ "${1:-}" = --slowest ]; then
  echo "slowest packages (seconds):"
  grep -E '^(ok|FAIL)[[:space:]]' "$log" 2>/dev/null | awk '{t=$3; sub(/s$/,"",t); if (t ~ /^[0-9.]+$/) printf "%8.1f  %s\n", t, $2}' | sort -rn | head -"${2:-10}"
  exit 0
fi
mkdir -p "$(dirname "$log")"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test "$@" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
# read once go test has ended, so no package's line is lost
grep -E '^(ok|FAIL)[[:space:]]' "$out" >>"$log"
exit "$status"
