#!/usr/bin/env bash
# Installs Debian's haproxy (what `meshpeer gateway --engine haproxy` runs, and test/gateways/haproxy-*
# tests) if it is missing, plus any extra Debian packages named as arguments (the data-plane benchmark
# adds nginx and its stream module). The packages' system services are kept from starting. A no-op
# once everything is there. Needs root (or passwordless sudo) and apt-get; says why on stderr and exits 1
# otherwise.
#   scripts/haproxy.sh [extra-package ...]
set -uo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
have haproxy || missing+=(haproxy)
for pkg in "$@"; do
  if command -v dpkg-query >/dev/null 2>&1; then installed "$pkg" || missing+=("$pkg"); else missing+=("$pkg"); fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "haproxy.sh: ${missing[*]} missing and apt-get is not available to install them" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "haproxy.sh: ${missing[*]} missing; not root and no passwordless sudo to install them" >&2
    exit 1
  fi
fi
start=$SECONDS
log=$(mktemp)
# The packages' postinst would start the system services on their default ports: keep them stopped.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && made_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
ok=0
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 ||
  { $SUDO apt-get update -qq >>"$log" 2>&1 &&
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; } || ok=1
[ "$made_policy" = 1 ] && $SUDO rm -f "$policy"
if [ "$ok" != 0 ]; then
  echo "haproxy.sh: apt-get install ${missing[*]} failed: $(tail -n 1 "$log")" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
echo "haproxy.sh: installed ${missing[*]} in $((SECONDS - start)) s" >&2
