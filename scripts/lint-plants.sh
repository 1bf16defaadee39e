#!/usr/bin/env bash
# Prove that `make lint` keeps the layers: plant one violation at a time in
# a throw-away file, check that golangci-lint's depguard refuses it naming
# the rule, and remove the file again. Run by `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
plant=""
trap '[ -n "$plant" ] && rm -f "$plant"' EXIT

# expect DIR PKGNAME IMPORT RULE: a file in DIR importing IMPORT fails lint
# under depguard's RULE.
expect() {
  local dir=$1 pkg=$2 imp=$3 rule=$4 out
  plant="$dir/zz_lint_plant.go"
  printf 'package %s\n\nimport _ "%s"\n' "$pkg" "$imp" >"$plant"
  if out=$(golangci-lint run --enable-only depguard "./$dir/" 2>&1); then
    echo "lint accepted a planted violation: $dir imports $imp"; exit 1
  fi
  if ! grep -q "from list '$rule'" <<<"$out" || ! grep -q "$imp" <<<"$out"; then
    echo "lint failed on the plant in $dir, but not for its import under rule $rule:"; echo "$out"; exit 1
  fi
  rm -f "$plant"; plant=""
  echo "refused as it should: $dir imports $imp ($rule)"
}

expect pipelines pipelines go.temporal.io/sdk/workflow domain
expect workflows workflows os/exec workflows
expect httpapi httpapi github.com/sluice-cd/sluice/activities edges
expect config config github.com/sluice-cd/sluice/pool config
expect console console go.temporal.io/sdk/client console
