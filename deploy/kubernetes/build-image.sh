#!/usr/bin/env bash
# Build the Sluice image FROM scratch with BuildKit and push it:
#   deploy/kubernetes/build-image.sh [REF]
# REF defaults to $SLUICE_REGISTRY/sluice/sluice:<hash of the binary>; the
# pushed reference is printed. An image already in the registry is not
# rebuilt. Needs buildctl and crane (the local platform's: eval "$(make -s
# platform-env)") and SLUICE_BUILDKIT_ADDR.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
: "${SLUICE_BUILDKIT_ADDR:?set SLUICE_BUILDKIT_ADDR (eval \"\$(make -s platform-env)\")}"
registry=${SLUICE_REGISTRY:-127.0.0.1:5000}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/sluice" ./cmd/sluice
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
cp "$here/Dockerfile" "$ctx/"
ref=${1:-$registry/sluice/sluice:$(sha256sum "$ctx/sluice" | cut -c1-16)}
if crane digest --insecure "$ref" >/dev/null 2>&1; then
  echo "$ref"
  exit 0
fi
buildctl --addr "$SLUICE_BUILDKIT_ADDR" build --frontend dockerfile.v0 \
  --local context="$ctx" --local dockerfile="$ctx" \
  --output "type=image,name=$ref,push=true,registry.insecure=true" >&2
echo "$ref"
