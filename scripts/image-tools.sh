#!/usr/bin/env bash
# Installs what test/image uses to check the container image the way a container runtime runs it:
# umoci (unpacks an OCI image into a runtime bundle, checking every digest) and runc (the OCI runtime
# Docker, containerd and CRI-O use). Debian packages; a no-op once installed. Needs root and apt-get.
set -euo pipefail
missing=()
for tool in umoci runc; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "image-tools: ${missing[*]} missing and cannot be installed here (needs root and apt-get)" >&2
  exit 1
fi
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "image-tools: installed ${missing[*]} in $((SECONDS - start)) s" >&2
