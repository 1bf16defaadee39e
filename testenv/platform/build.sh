#!/usr/bin/env bash
# Build the binaries of Sluice's local platform from the Go module proxy, once
# per version, into a cache outside the work tree:
#   Kubernetes components and kubectl, etcd, buildkitd + buildctl, the
#   distribution registry, crane, CoreDNS.
# Later calls with the same versions do nothing. Prints the bin directory.
#
#   SLUICE_PLATFORM_CACHE  cache root (default /var/cache/sluice-platform)
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}   # v1.36.6 is refused by the proxy
BUILDKIT_VERSION=${BUILDKIT_VERSION:-v0.33.1}   # v0.34 dependencies are refused
REGISTRY_VERSION=${REGISTRY_VERSION:-v3.1.2}
CRANE_VERSION=${CRANE_VERSION:-v0.22.1}
CACHE=${SLUICE_PLATFORM_CACHE:-/var/cache/sluice-platform}
KEY="k8s-$K8S_VERSION-bk-$BUILDKIT_VERSION-reg-$REGISTRY_VERSION-crane-$CRANE_VERSION"
BIN="$CACHE/$KEY/bin"
WORK="$CACHE/$KEY/build"
export CGO_ENABLED=0 GOFLAGS=-mod=mod

log() { printf '[platform-build] %s\n' "$*" >&2; }
have() { for b in "$@"; do [ -x "$BIN/$b" ] || return 1; done; }
mkdir -p "$BIN" "$WORK"

# Kubernetes: a wrapper module that requires k8s.io/kubernetes and maps each
# k8s.io staging module (which k8s.io/kubernetes replaces with ./staging, a
# replace that does not apply to a dependency) to its published v0.N.x tag.
build_kubernetes() {
  have kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl etcd && return
  local dir="$WORK/kubernetes" staging="v0.${K8S_VERSION#v1.}" kmod gover
  mkdir -p "$dir" && cd "$dir"
  kmod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  gover=$(awk '/^go /{print $2; exit}' "$kmod")
  {
    printf 'module sluice.local/platform/kubernetes\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$gover" "$K8S_VERSION"
    for m in $(sed -n '/^replace (/,/^)/p' "$kmod" | awk '/=>/{print $1}'); do
      case ${m#k8s.io/} in
        sample-*) # unused by the binaries, and not on the proxy: empty local modules
          mkdir -p "stubs/${m#k8s.io/}"; printf 'module %s\n\ngo %s\n' "$m" "$gover" >"stubs/${m#k8s.io/}/go.mod"
          printf '\t%s => ./stubs/%s\n' "$m" "${m#k8s.io/}" ;;
        *) printf '\t%s => %s %s\n' "$m" "$m" "$staging" ;;
      esac
    done
    printf ')\n'
  } >go.mod
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
GO
  log "resolving Kubernetes $K8S_VERSION modules"
  go mod tidy
  local ldf="-s -w" minor
  minor=$(echo "$K8S_VERSION" | cut -d. -f2)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  log "building Kubernetes components (about 10 minutes cold on 2 cores)"
  go build -trimpath -ldflags "$ldf" -o "$BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kube-proxy \
    k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kubectl
  log "building etcd (the version Kubernetes $K8S_VERSION pins)"
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3
}

# BuildKit refuses `go install pkg@version` because of its exclude
# directives; a wrapper module copies them.
build_buildkit() {
  have buildkitd buildctl && return
  local dir="$WORK/buildkit"
  mkdir -p "$dir" && cd "$dir"
  cat >go.mod <<EOM
module sluice.local/platform/buildkit

go 1.26

exclude (
	github.com/davecgh/go-spew v1.1.2-0.20180830191138-d8f796af33cc
	github.com/pmezard/go-difflib v1.0.1-0.20181226105442-5d4384ee4fb2
)
EOM
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/moby/buildkit/cmd/buildctl"\n\t_ "github.com/moby/buildkit/cmd/buildkitd"\n)\n' >tools.go
  go get "github.com/moby/buildkit@$BUILDKIT_VERSION"
  go mod tidy
  log "building buildkitd and buildctl $BUILDKIT_VERSION"
  go build -trimpath -ldflags "-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" -o "$BIN/" \
    github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
}

build_tools() {
  have registry crane && return
  log "building registry $REGISTRY_VERSION and crane $CRANE_VERSION"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
}

COREDNS_VERSION=${COREDNS_VERSION:-v1.15.0}
build_coredns() {
  have coredns && return
  log "building coredns $COREDNS_VERSION"
  GOBIN="$BIN" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
}

start=$(date +%s)
build_tools
build_coredns
build_buildkit
build_kubernetes
log "binaries ready in $(( $(date +%s) - start ))s"
echo "$BIN"
