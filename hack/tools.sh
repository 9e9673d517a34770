#!/usr/bin/env bash
# Builds the pinned Kubernetes, etcd and helm (4 and 3) binaries and staticcheck
# from the Go module proxy (modules under tools/) and caches them, keyed by
# everything that decides their bytes, so only the first run pays for the
# build. Prints the bin directory.
#
#   hack/tools.sh            build if needed, print the bin directory
#   hack/tools.sh node       also the node's binaries (tools/node: kubelet,
#                            kube-controller-manager, kube-scheduler, kube-proxy) for
#                            the node e2e and make demo-node, symlinked into the same directory
#   hack/tools.sh oldest     also kube-apiserver and kubectl of the oldest Kubernetes
#                            the chart claims (tools/kube130), for make e2e-oldest,
#                            symlinked as kube-1.30/ into the same directory
#                            (FLINKGATE_KUBE_VERSION=1.30 selects them); both
#                            words may be given
#   FLINKGATE_TOOLS_CACHE    cache root (default: $XDG_CACHE_HOME or ~/.cache, /flinkgate/tools)
set -euo pipefail

want_node= want_oldest=
for arg in "$@"; do
  case $arg in
    node) want_node=1 ;;
    oldest) want_oldest=1 ;;
    *) echo "hack/tools.sh: unknown argument $arg (want node or oldest)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cache_root=${FLINKGATE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flinkgate/tools}

KUBE_VERSION=v1.37.2
# The oldest release the chart claims (kubeVersion in charts/flinkgate/Chart.yaml):
# its newest patch release on the module proxy.
KUBE_OLDEST_VERSION=v1.30.14
ETCD_VERSION=v3.6.6
HELM_VERSION=v4.3.1
HELM3_VERSION=v3.22.0

kv="-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37"
kv_oldest="-X k8s.io/component-base/version.gitVersion=$KUBE_OLDEST_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=30 -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/component-base/version.buildDate=1970-01-01T00:00:00Z -X k8s.io/client-go/pkg/version.gitVersion=$KUBE_OLDEST_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=30"
hv="-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
h3v="-X helm.sh/helm/v3/internal/version.version=$HELM3_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"

# The key covers what decides the binaries' bytes: Go, the pinned modules and the ldflags.
# The three modules are named, not globbed, so that adding another tools module
# (lint, helm3, node, below) does not invalidate a build of kube-apiserver that took minutes.
kube_modules=(etcd helm kube)
key=$( { go version; echo "$kv $hv"
  for m in "${kube_modules[@]}"; do cat "$root/tools/$m/go.mod"; done
  for m in "${kube_modules[@]}"; do cat "$root/tools/$m/go.sum"; done; } | sha256sum | cut -c1-16)
# staticcheck has its own key, so bumping it rebuilds only itself; the bin
# directory gets a symlink to it.
lint_key=lint-$( { go version; cat "$root/tools/lint/go.mod" "$root/tools/lint/go.sum"; } | sha256sum | cut -c1-16)
# Helm 3 has its own key, so bumping it rebuilds only itself; the bin directory
# gets a symlink to it.
helm3_key=helm3-$( { go version; echo "$h3v"; cat "$root/tools/helm3/go.mod" "$root/tools/helm3/go.sum"; } | sha256sum | cut -c1-16)
# The node's binaries have their own key, so bumping tools/node rebuilds only
# them; the bin directory gets symlinks to them.
node_key=node-$( { go version; echo "$kv"; cat "$root/tools/node/go.mod" "$root/tools/node/go.sum"; } | sha256sum | cut -c1-16)
# So has the oldest Kubernetes: its build is as long as the newest's, and
# neither's bump may cost the other's.
oldest_key=kube130-$( { go version; echo "$kv_oldest"; cat "$root/tools/kube130/go.mod" "$root/tools/kube130/go.sum"; } | sha256sum | cut -c1-16)
bin="$cache_root/$key/bin"
log() { printf '[tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

build() { # module-dir output-name package ldflags [output-dir]
  local dir=$1 out=$2 pkg=$3 ldflags=$4 dest=${5:-$bin}
  if [ -x "$dest/$out" ]; then return; fi
  log "building $out from $pkg (first run only; kube-apiserver takes several minutes)"
  local start=$SECONDS
  mkdir -p "$dest"
  (cd "$root/tools/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$dest/$out.tmp" "$pkg")
  mv "$dest/$out.tmp" "$dest/$out"
  log "built $out in $((SECONDS - start))s"
}

mkdir -p "$bin"
# A lock so that two concurrent runs (make demo and make test) share one build.
exec 9>"$cache_root/$key.lock"
flock 9

build etcd etcd go.etcd.io/etcd/server/v3 ""
build helm helm helm.sh/helm/v4/cmd/helm "$hv"
build kube kubectl k8s.io/kubernetes/cmd/kubectl "$kv"
build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kv"
build lint staticcheck honnef.co/go/tools/cmd/staticcheck "" "$cache_root/$lint_key/bin"
ln -sfn "$cache_root/$lint_key/bin/staticcheck" "$bin/staticcheck"
build helm3 helm3 helm.sh/helm/v3/cmd/helm "$h3v" "$cache_root/$helm3_key/bin"
ln -sfn "$cache_root/$helm3_key/bin/helm3" "$bin/helm3"
# build_many module-dir ldflags output-dir package...: the missing binaries of
# one module in a single `go build`, which compiles each shared package once
# and links the binaries in parallel; separate builds repeated the compile of
# the packages they share (about 33 min for the node's four on a busy machine).
# Every binary present is a cache hit and skips the build.
build_many() {
  local dir=$1 ldflags=$2 dest=$3; shift 3
  local pkg missing=()
  for pkg in "$@"; do
    [ -x "$dest/$(basename "$pkg")" ] || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "building ${missing[*]##*/} in one go build (first run only; several minutes)"
  local start=$SECONDS tmp
  mkdir -p "$dest"
  tmp=$(mktemp -d "$dest/.build.XXXXXX")
  # With several packages, -o names a directory that gets one binary each.
  if ! (cd "$root/tools/$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp/" "${missing[@]}"); then
    rm -rf "$tmp"
    return 1
  fi
  for pkg in "${missing[@]}"; do mv "$tmp/$(basename "$pkg")" "$dest/"; done
  rm -rf "$tmp"
  log "built ${missing[*]##*/} in $((SECONDS - start))s"
}

# The newest's kube-apiserver and kubectl under their version too, so that
# FLINKGATE_KUBE_VERSION names either release the same way.
minor() { local v=${1#v}; echo "${v%.*}"; }
mkdir -p "$bin/kube-$(minor $KUBE_VERSION)"
ln -sfn ../kube-apiserver "$bin/kube-$(minor $KUBE_VERSION)/kube-apiserver"
ln -sfn ../kubectl "$bin/kube-$(minor $KUBE_VERSION)/kubectl"

if [ -n "$want_oldest" ]; then
  build_many kube130 "$kv_oldest" "$cache_root/$oldest_key/bin" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl
  ln -sfn "$cache_root/$oldest_key/bin" "$bin/kube-$(minor $KUBE_OLDEST_VERSION)"
fi

if [ -n "$want_node" ]; then
  # Most packages are shared with kube-apiserver (same versions), so Go's
  # build cache also saves part of the work after it.
  node_bins=(kubelet kube-controller-manager kube-scheduler kube-proxy)
  build_many node "$kv" "$cache_root/$node_key/bin" "${node_bins[@]/#/k8s.io/kubernetes/cmd/}"
  for b in "${node_bins[@]}"; do
    ln -sfn "$cache_root/$node_key/bin/$b" "$bin/$b"
  done
fi
echo "$bin"
