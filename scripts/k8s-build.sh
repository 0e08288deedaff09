#!/usr/bin/env bash
# Build kube-apiserver and etcd from the Go module proxy, for tests; also kube-controller-manager,
# kube-scheduler and kwok (fake nodes that run pods), which k8s-up.sh starts with --workloads.
#
#   scripts/k8s-build.sh [VERSION]      # default v1.37.2 (K8S_VERSION overrides)
#
# Binaries go to ${MESHPEER_CACHE:-$HOME/.cache/meshpeer}/k8s/<VERSION>/bin, outside the
# repository. When every binary already exists the script exits at once; otherwise it builds
# only the missing ones (the Go build cache makes the extra kube commands cheap once
# kube-apiserver has been built).
#
# k8s.io/kubernetes cannot be required as an ordinary dependency: its go.mod requires every
# staging module (k8s.io/api, k8s.io/apiserver, ...) at v0.0.0 and replaces it with a path
# inside its own tree, and a dependency's replace directives are ignored. So we write a small
# wrapper module that replaces each staging module with its published v0.MINOR.PATCH release,
# and build the two commands from it. etcd is pinned to the version kubernetes itself uses.
#
# Environment:
#   MESHPEER_CACHE   cache root (default $HOME/.cache/meshpeer)
#   ETCD_VERSION     build this etcd release instead of the one kubernetes pins
#   GOTOOLCHAIN      defaults to "local": no toolchain download unless you ask for it
#   K8S_BUILD_FORCE  =1 rebuilds even when the binaries exist
#   KWOK_VERSION     sigs.k8s.io/kwok release for cmd/kwok (default v0.8.0)
#   K8S_BUILD_ONLY   "core" builds only kube-apiserver and etcd (the old behaviour)
set -euo pipefail

VERSION=${1:-${K8S_VERSION:-v1.37.2}}
case $VERSION in
  v1.[0-9]*.[0-9]*) ;;
  *) echo "k8s-build: version must look like v1.37.2, got '$VERSION'" >&2; exit 2 ;;
esac

CACHE_ROOT=${MESHPEER_CACHE:-$HOME/.cache/meshpeer}
OUT=$CACHE_ROOT/k8s/$VERSION
BIN=$OUT/bin
SRC=$OUT/src
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
export GOFLAGS=${GOFLAGS:--buildvcs=false}
export CGO_ENABLED=${CGO_ENABLED:-0}

KWOK_VERSION=${KWOK_VERSION:-v0.8.0}

log() { printf 'k8s-build: %s\n' "$*" >&2; }

CORE=(kube-apiserver etcd)
WORKLOADS=(kube-controller-manager kube-scheduler kwok)
WANT=("${CORE[@]}")
[[ ${K8S_BUILD_ONLY:-} == core ]] || WANT+=("${WORKLOADS[@]}")

# The binaries of WANT that still have to be built.
missing() {
  local b
  for b in "${WANT[@]}"; do
    [[ ${K8S_BUILD_FORCE:-0} != 1 && -x $BIN/$b ]] || printf '%s\n' "$b"
  done
}

if [[ -z $(missing) ]]; then
  log "cached: $BIN"
  exit 0
fi

command -v go >/dev/null || { log "go is not installed"; exit 1; }

# One build at a time per version: a second caller waits for the first.
mkdir -p "$OUT"
exec 9>"$OUT/.build.lock"
if command -v flock >/dev/null; then
  flock 9
  if [[ -z $(missing) ]]; then
    log "cached (built by a concurrent run): $BIN"
    exit 0
  fi
fi
mapfile -t TODO < <(missing)
log "to build: ${TODO[*]}"
todo() { [[ " ${TODO[*]} " == *" $1 "* ]]; }

START=$SECONDS
MINOR=${VERSION#v1.}
MINOR=${MINOR%%.*}
STAGING_VERSION=v0.${VERSION#v1.}

rm -rf "$SRC"
mkdir -p "$SRC" "$BIN"
cd "$SRC"

log "resolving k8s.io/kubernetes@$VERSION ($(go version | awk '{print $3}'), GOTOOLCHAIN=$GOTOOLCHAIN)"
# Outside any module (the directory is empty), `go list -m mod@version` fetches just the .mod.
KMOD=$(go list -m -f '{{.GoMod}}' "k8s.io/kubernetes@$VERSION")
KGO=$(go list -m -f '{{.GoVersion}}' "k8s.io/kubernetes@$VERSION")
[[ -f $KMOD ]] || { log "could not fetch the go.mod of k8s.io/kubernetes@$VERSION"; exit 1; }

# Does the local Go satisfy the go directive of kubernetes?
HAVE=$(go env GOVERSION)
HAVE=${HAVE#go}
if [[ $(printf '%s\n%s\n' "$KGO" "$HAVE" | sort -V | head -n1) != "$KGO" ]]; then
  log "k8s.io/kubernetes@$VERSION needs go $KGO, this machine has go $HAVE"
  log "install a newer Go, or let Go fetch one: export GOTOOLCHAIN=go$KGO (or a later patch release)"
  exit 1
fi

{
  echo 'module meshpeer.local/k8s-apiserver-build'
  echo
  echo "go $KGO"
  grep '^godebug ' "$KMOD" || true
} >go.mod

# Every staging module that kubernetes replaces with ./staging/src/... gets a replace to its
# published release. Generated from kubernetes' own go.mod: the list changes between minors.
STAGING=$(awk '
  /^replace[ \t]*\(/ { inblock = 1; next }
  inblock && /^\)/ { inblock = 0; next }
  inblock && $2 == "=>" && $3 ~ /^\.\/staging\// { print $1 }
  /^replace[ \t]+[^(]/ && $3 == "=>" && $4 ~ /^\.\/staging\// { print $2 }
' "$KMOD")
COUNT=0
for m in $STAGING; do
  go mod edit "-replace=$m=$m@$STAGING_VERSION"
  COUNT=$((COUNT + 1))
done
[[ $COUNT -gt 0 ]] || { log "found no staging modules in $KMOD"; exit 1; }
log "wrapper module: go $KGO, $COUNT staging replaces -> $STAGING_VERSION"

log "downloading modules"
KCMDS=("k8s.io/kubernetes/cmd/kube-apiserver@$VERSION")
todo kube-controller-manager && KCMDS+=("k8s.io/kubernetes/cmd/kube-controller-manager@$VERSION")
todo kube-scheduler && KCMDS+=("k8s.io/kubernetes/cmd/kube-scheduler@$VERSION")
go get "${KCMDS[@]}"
PINNED_ETCD=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
ETCD_VER=${ETCD_VERSION:-$PINNED_ETCD}
# Always with an explicit version: a bare `go get` would mean @upgrade and move grpc/otel
# underneath kube-apiserver.
go get "go.etcd.io/etcd/server/v3@$ETCD_VER"
log "resolved in $((SECONDS - START)) s; etcd $ETCD_VER (kubernetes pins $PINNED_ETCD)"

# Without these, /version reports a placeholder instead of the real release.
VX=''
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  VX+=" -X $p.gitVersion=$VERSION -X $p.gitMajor=1 -X $p.gitMinor=$MINOR -X $p.gitTreeState=clean"
done

# Each binary is written as NAME.tmp and renamed once built, so a half-built file is never taken
# for a cached one.
build_kube() {
  local name=$1 t=$SECONDS
  log "building $name (several minutes on a cold cache)"
  go build -trimpath -ldflags="-s -w$VX" -o "$BIN/$name.tmp" "k8s.io/kubernetes/cmd/$name"
  mv "$BIN/$name.tmp" "$BIN/$name"
  log "$name built in $((SECONDS - t)) s"
}

todo kube-apiserver && build_kube kube-apiserver

if todo etcd; then
  T=$SECONDS
  log "building etcd $ETCD_VER"
  go build -trimpath -ldflags="-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  log "etcd built in $((SECONDS - T)) s"
fi

todo kube-controller-manager && build_kube kube-controller-manager
todo kube-scheduler && build_kube kube-scheduler

# kwok has no replace directives, so `go install pkg@version` builds it in its own module graph
# (it pins its own k8s.io client libraries; it only talks to the API server over HTTP).
if todo kwok; then
  T=$SECONDS
  log "building kwok $KWOK_VERSION"
  rm -rf "$OUT/kwok-gobin"
  GOBIN=$OUT/kwok-gobin go install -trimpath -ldflags="-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  mv "$OUT/kwok-gobin/kwok" "$BIN/kwok"
  rm -rf "$OUT/kwok-gobin"
  log "kwok built in $((SECONDS - T)) s"
fi

printf 'kubernetes=%s\netcd=%s\nkwok=%s\ngo=%s\n' "$VERSION" "$ETCD_VER" "$KWOK_VERSION" "$HAVE" >"$OUT/VERSIONS"
log "done in $((SECONDS - START)) s: $BIN"
