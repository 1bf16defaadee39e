#!/usr/bin/env bash
# Enforce Sluice's package layers (run by `make lint`):
#  - domain packages never depend on Temporal, so they can be tested and
#    reused alone;
#  - workflows/ depends only on contract/, pipelines/ and the Temporal SDK:
#    never on client-go, BuildKit, os/exec, Git, Git-host or chat clients,
#    nor on any other Sluice package.
# Dependencies are transitive (go list -deps), test files excluded.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=github.com/sluice-cd/sluice
fail=0

domain=(contract pipelines policy access request executor gitsrc gitstatus logstore records secrets deploy testenv config pool image environments release chaos admission)
for pkg in "${domain[@]}"; do
  bad=$(go list -deps "./$pkg" | grep -E '^go\.temporal\.io/' || true)
  if [ -n "$bad" ]; then
    echo "layer violation: $pkg is a domain package and must not depend on Temporal; it reaches:"
    echo "$bad" | head -5 | sed 's/^/    /'
    fail=1
  fi
done

forbidden='^(os/exec|k8s\.io/|sigs\.k8s\.io/|github\.com/moby/|github\.com/containerd/|github\.com/go-git/|github\.com/slack-go/|github\.com/google/go-github|gitlab\.com/gitlab-org/|code\.gitea\.io/|github\.com/google/go-containerregistry)'
bad=$(go list -deps ./workflows | grep -E "$forbidden" || true)
own=$(go list -deps ./workflows | grep "^$mod/" | grep -vE "^$mod/(workflows|contract|pipelines)$" || true)
if [ -n "$bad$own" ]; then
  echo "layer violation: workflows may import only contract, pipelines and the Temporal SDK; it reaches:"
  printf '%s\n%s\n' "$bad" "$own" | sed '/^$/d' | head -10 | sed 's/^/    /'
  fail=1
fi

[ "$fail" = 0 ] && echo "layers ok"
exit "$fail"
