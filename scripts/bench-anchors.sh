#!/usr/bin/env bash
# Installs the anchors of the data-plane benchmark (bench/dataplane-anchors.ts) if they are missing:
# Debian's haproxy, nginx and its stream module. Called by the benchmark only, never by `npm test`.
# Prints one line on stdout: "ok <haproxy> <nginx>" with the binaries' paths, or "skip <why>".
set -uo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
stream_module() { ls /usr/lib/nginx/modules/ngx_stream_module.so >/dev/null 2>&1; }

if ! have haproxy || ! have nginx || ! stream_module; then
  if ! have apt-get; then
    echo "skip apt-get is not available to install haproxy, nginx and libnginx-mod-stream"
    exit 0
  fi
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if have sudo && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
      echo "skip not root and no passwordless sudo to install haproxy, nginx and libnginx-mod-stream"
      exit 0
    fi
  fi
  log=$(mktemp)
  # The packages' postinst would start the system services on their default ports: keep them stopped.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && made_policy=1
  fi
  if ! { $SUDO apt-get install -y --no-install-recommends haproxy nginx libnginx-mod-stream >"$log" 2>&1 ||
    { $SUDO apt-get update >>"$log" 2>&1 &&
      $SUDO apt-get install -y --no-install-recommends haproxy nginx libnginx-mod-stream >>"$log" 2>&1; }; }; then
    [ "$made_policy" = 1 ] && $SUDO rm -f "$policy"
    echo "skip apt-get install haproxy nginx libnginx-mod-stream failed: $(tail -n 1 "$log")"
    rm -f "$log"
    exit 0
  fi
  [ "$made_policy" = 1 ] && $SUDO rm -f "$policy"
  rm -f "$log"
fi
if ! have haproxy || ! have nginx || ! stream_module; then
  echo "skip haproxy, nginx or the nginx stream module is still missing after installing"
  exit 0
fi
echo "ok $(command -v haproxy) $(command -v nginx)"
