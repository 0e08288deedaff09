#!/usr/bin/env bash
# Compiles HashiCorp's github.com/hashicorp/consul/api test suite (the version pinned in go.mod, fetched
# through the Go module proxy) into a test binary cached outside the repository, and prints the binary's
# path on the last line. A no-op once built for this go.mod/go.sum. Cold: ~2 min on 2 cores.
#
#   MESHPEER_CACHE   cache root (default $HOME/.cache/meshpeer)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${MESHPEER_CACHE:-$HOME/.cache/meshpeer}"
version="$(awk '$1 == "require" && $2 == "github.com/hashicorp/consul/api" { print $3 }' "$here/go.mod")"
[ -n "$version" ] || { echo "consul-api-suite: no github.com/hashicorp/consul/api version in go.mod" >&2; exit 1; }
key="$(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)"
dir="$cache/consul-api-suite/$version-$key"
bin="$dir/consul-api.test"

if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null 2>&1 || { echo "consul-api-suite: 'go' is not on PATH; it is needed to build the suite" >&2; exit 1; }

mkdir -p "$dir"
exec 9>"$dir/.lock"   # one build at a time
if command -v flock >/dev/null 2>&1; then flock 9; fi
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
echo "consul-api-suite: compiling github.com/hashicorp/consul/api $version tests (a few minutes the first time)" >&2
start=$SECONDS
(cd "$here" && go test -c -o "$bin.tmp" github.com/hashicorp/consul/api >&2)
mv -f "$bin.tmp" "$bin"
echo "consul-api-suite: built in $((SECONDS - start))s: $bin" >&2
echo "$bin"
