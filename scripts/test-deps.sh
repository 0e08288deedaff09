#!/usr/bin/env bash
# Builds what the test suite runs for real but does not ship: kube-apiserver + etcd and helm, from the
# Go module proxy, cached under ${MESHPEER_CACHE:-$HOME/.cache/meshpeer} (a no-op once cached); and
# installs umoci + runc (Debian packages) for test/image.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash .ci/k8s.sh
bash .ci/helm.sh >/dev/null
bash scripts/image-tools.sh
