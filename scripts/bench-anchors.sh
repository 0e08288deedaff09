#!/usr/bin/env bash
# Installs the anchors of the data-plane benchmark (bench/dataplane-anchors.ts) if they are missing:
# Debian's haproxy, nginx and its stream and njs modules (through scripts/haproxy.sh; njs is for meshpeer's
# own nginx sidecars). Called by the benchmark only.
# Prints one line on stdout: "ok <haproxy> <nginx>" with the binaries' paths, or "skip <why>".
set -uo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
stream_module() { ls /usr/lib/nginx/modules/ngx_stream_module.so >/dev/null 2>&1; }

if ! have haproxy || ! have nginx || ! stream_module; then
  # The same installer as the tests' haproxy (services kept stopped), with nginx and its stream module.
  if ! why=$(bash "$(dirname "${BASH_SOURCE[0]}")/haproxy.sh" nginx libnginx-mod-stream libnginx-mod-stream-js 2>&1 >/dev/null); then
    echo "skip $(printf '%s\n' "$why" | tail -n 1 | sed 's/^haproxy.sh: //')"
    exit 0
  fi
fi
if ! have haproxy || ! have nginx || ! stream_module; then
  echo "skip haproxy, nginx or the nginx stream module is still missing after installing"
  exit 0
fi
echo "ok $(command -v haproxy) $(command -v nginx)"
