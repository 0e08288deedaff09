#!/usr/bin/env bash
# Installs Debian's chromium for the browser tests of the web UI (test/ui, driven by playwright-core with
# executablePath /usr/bin/chromium; Playwright's own browser download does not work here). A no-op once
# installed. Needs root and apt-get; without them it says so and fails, and so do the UI tests.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: /usr/bin/chromium is missing and cannot be installed here (needs root and apt-get)" >&2
  exit 1
fi
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
echo "chromium: installed $(/usr/bin/chromium --version 2>/dev/null) in $((SECONDS - start)) s" >&2
