#!/usr/bin/env bash
# Build the platform's base images FROM scratch with BuildKit and push them
# to the local registry, tagged with their version and latest:
#   sluice/pause:3.10        the pod sandbox (a static Go binary)
#   sluice/busybox:<v>       Debian's busybox-static, applets installed
#   sluice/go-builder:<go>   busybox + this machine's Go toolchain, for build pods
# An image already in the registry is not rebuilt.
. "$(dirname "$0")/lib.sh"
B=$(bin_dir)
ctx=$STATE/images
mkdir -p "$ctx"

have_image() { "$B/crane" digest --insecure "$REGISTRY/$1" >/dev/null 2>&1; }

# push NAME VERSION DIR: build DIR's Dockerfile and push NAME:VERSION and NAME:latest.
push() { local name=$1 version=$2 dir=$3
  have_image "$name:$version" && return 0
  log "building $name:$version"
  "$B/buildctl" --addr "unix://$BUILDKIT_SOCK" build --frontend dockerfile.v0 \
    --local context="$dir" --local dockerfile="$dir" \
    --output "type=image,\"name=$REGISTRY/$name:$version,$REGISTRY/$name:latest\",push=true,registry.insecure=true" \
    >"$LOGS/image-${name//\//-}.log" 2>&1 || { tail -20 "$LOGS/image-${name//\//-}.log" >&2; return 1; }
}

mkdir -p "$ctx/pause"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/pause/pause" "$HERE/pause"
cat >"$ctx/pause/Dockerfile" <<'DF'
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
DF
push sluice/pause 3.10 "$ctx/pause"

BB_VERSION=$(busybox 2>&1 | awk 'NR==1{print $2}' | tr -d v || true)
mkdir -p "$ctx/busybox"
cp /bin/busybox "$ctx/busybox/busybox"
cat >"$ctx/busybox/Dockerfile" <<'DF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /etc /root && chmod 1777 /tmp && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
DF
push sluice/busybox "$BB_VERSION" "$ctx/busybox"

GO_VERSION=$(go env GOVERSION | tr -d go)
if ! have_image "sluice/go-builder:$GO_VERSION"; then
  rm -rf "$ctx/go-builder" && mkdir -p "$ctx/go-builder"
  cp -a "$(go env GOROOT)" "$ctx/go-builder/go"
  cat >"$ctx/go-builder/Dockerfile" <<DF
FROM $REGISTRY/sluice/busybox:$BB_VERSION
COPY go /usr/local/go
ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CGO_ENABLED=0 GOFLAGS=-buildvcs=false
DF
  push sluice/go-builder "$GO_VERSION" "$ctx/go-builder"
  rm -rf "$ctx/go-builder/go"
fi
