#!/usr/bin/env bash
# Builds the helm CLI from its Go module (through the Go module proxy) into a cache outside
# the repository, and prints the binary's path on the last line of its output.
# Does nothing but print the path when that version is already built.
#
#   MESHPEER_HELM_VERSION  helm release to build (default below)
#   MESHPEER_CACHE         cache root (default $HOME/.cache/meshpeer)
#
# Build output goes to stderr, so `helm=$(scripts/helm-build.sh)` captures only the path.
set -euo pipefail

version="${MESHPEER_HELM_VERSION:-v3.22.0}"
cache="${MESHPEER_CACHE:-$HOME/.cache/meshpeer}"
dir="$cache/helm/$version"
bin="$dir/helm"

cached() { [ -x "$bin" ] && "$bin" version --short >/dev/null 2>&1; }

if cached; then
  echo "$bin"
  exit 0
fi

case "$version" in
  v3.*) module=helm.sh/helm/v3 ;;
  v4.*) module=helm.sh/helm/v4 ;;
  *) echo "helm-build: unsupported helm version '$version' (expected v3.x.y or v4.x.y)" >&2; exit 2 ;;
esac

command -v go >/dev/null 2>&1 || { echo "helm-build: 'go' is not on PATH; it is needed to build helm $version" >&2; exit 1; }

mkdir -p "$dir"
# One build at a time per version: parallel test workers may call this together.
exec 9>"$dir/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if cached; then
  echo "$bin"
  exit 0
fi

work="$(mktemp -d "$dir/.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0

echo "helm-build: building helm $version from $module (this takes a few minutes the first time)" >&2
start=$SECONDS

# helm's own release build stamps, through its Makefile, the version it reports and the Kubernetes
# version it assumes for `helm template`/`helm lint` (derived from its client-go dependency). A plain
# `go install` would report "+unreleased" and assume Kubernetes 1.20, so do the same stamping here.
src="$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
[ -n "$src" ] && [ -f "$src/go.mod" ] || { echo "helm-build: could not download $module@$version" >&2; exit 1; }
ldflags="-s -w -X $module/internal/version.version=$version"
client_go="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$src/go.mod")"   # e.g. v0.37.0
if [[ "$client_go" =~ ^v0\.([0-9]+)\. ]] && [ -f "$src/Makefile" ]; then
  k8s_minor="${BASH_REMATCH[1]}"
  for sym in $(grep -o -- '-X [^ =]*\.k8sVersionM[a-z]*' "$src/Makefile" | sed 's/^-X //' | sort -u); do
    case "$sym" in
      *Major) ldflags+=" -X $sym=1" ;;
      *Minor) ldflags+=" -X $sym=$k8s_minor" ;;
    esac
  done
else
  echo "helm-build: warning: could not find helm's Kubernetes version; helm template will assume its default" >&2
fi

GOBIN="$work" go install -trimpath -ldflags "$ldflags" "$module/cmd/helm@$version" >&2

mv -f "$work/helm" "$bin"   # same directory, so the rename is atomic
echo "helm-build: $("$bin" version --short), built in $((SECONDS - start))s" >&2
echo "$bin"
