#!/usr/bin/env bash
# Builds what the test suite runs for real but does not ship: kube-apiserver + etcd, helm and HashiCorp's
# consul/api test suite, from the Go module proxy, cached under ${MESHPEER_CACHE:-$HOME/.cache/meshpeer}
# (a no-op once cached); and installs umoci + runc (Debian packages) for test/image, haproxy and nginx with
# its stream and njs modules for the HAProxy and nginx engines' tests (meshpeer gateway/proxy --engine
# haproxy, proxy --engine nginx) and chromium for test/ui.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash .ci/k8s.sh
bash .ci/helm.sh >/dev/null
bash scripts/image-tools.sh
bash scripts/haproxy.sh nginx libnginx-mod-stream libnginx-mod-stream-js
bash scripts/chromium.sh
# HashiCorp's consul/api test suite, compiled from the Go module proxy (test/consul-api-suite; cold ~2 min
# on 2 cores, then cached): build.sh reports the build time when it builds.
start=$SECONDS
bash test/consul-api-suite/build.sh >/dev/null
echo "==> consul/api test suite ready in $((SECONDS - start)) s" >&2
