#!/usr/bin/env bash
# Build SeaweedFS's `weed` (its S3 gateway is the real S3-compatible server
# the log tests run) from the Go module proxy, once per version, into the
# platform's cache outside the work tree. Later calls do nothing. Prints the
# binary's path.
#
#   SLUICE_PLATFORM_CACHE  cache root (default /var/cache/sluice-platform)
set -euo pipefail

SEAWEEDFS_VERSION=${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}
CACHE=${SLUICE_PLATFORM_CACHE:-/var/cache/sluice-platform}
DIR="$CACHE/seaweedfs-$SEAWEEDFS_VERSION"
BIN="$DIR/weed"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi

printf '[seaweedfs] building weed %s (once; several minutes)\n' "$SEAWEEDFS_VERSION" >&2
mkdir -p "$DIR"
# its go.mod has replace directives, so `go install m@v` refuses it: build
# inside a copy of the module (at a fixed path, so Go's build cache serves
# a second build)
src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$SEAWEEDFS_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
work="$DIR/src"
rm -rf "$work" && cp -r "$src" "$work" && chmod -R u+w "$work"
(cd "$work" && go build -o "$BIN.tmp" ./weed)
mv "$BIN.tmp" "$BIN"
rm -rf "$work"
echo "$BIN"
