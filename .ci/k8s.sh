#!/usr/bin/env bash
# CI step: build kube-apiserver + etcd for the Kubernetes tests (test/k8s, controller tests), and
# kube-controller-manager, kube-scheduler and kwok for the workload tests (Deployments, pods, injection).
#
# Called by .ci/run. Cold, on 2 cores, this takes about 5 minutes for the first two and 10-20 more for
# the other three, and ~5 GB of Go caches
# (GOMODCACHE + GOCACHE); with ${MESHPEER_CACHE:-$HOME/.cache/meshpeer}/k8s cached it is a no-op.
# Cache that directory (and GOMODCACHE/GOCACHE if possible) between CI runs.
#
# Needs: go >= the go directive of k8s.io/kubernetes (1.26.0 for v1.37.2), network access to
# the Go module proxy, kubectl, openssl and curl (the last three for the tests, checked here so
# a missing one fails early with a clear message).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION=${K8S_VERSION:-v1.37.2}
echo "==> .ci/k8s.sh: kube-apiserver, etcd, controller-manager, scheduler $VERSION and kwok for the Kubernetes tests"
for tool in go kubectl openssl curl; do
  if ! command -v "$tool" >/dev/null; then
    echo "==> .ci/k8s.sh: '$tool' is not installed; it is required" >&2
    exit 1
  fi
done
echo "==> go: $(go version)"
echo "==> kubectl: $(kubectl version --client 2>/dev/null | head -n1)"
echo "==> cache: ${MESHPEER_CACHE:-$HOME/.cache/meshpeer}/k8s/$VERSION/bin"

start=$SECONDS
scripts/k8s-build.sh "$VERSION"
bin=${MESHPEER_CACHE:-$HOME/.cache/meshpeer}/k8s/$VERSION/bin
echo "==> kube-apiserver: $("$bin/kube-apiserver" --version 2>&1 | head -n1)"
echo "==> etcd: $("$bin/etcd" --version 2>&1 | head -n1)"
for extra in kube-controller-manager kube-scheduler kwok; do
  if [ -x "$bin/$extra" ]; then echo "==> $extra: $("$bin/$extra" --version 2>&1 | head -n1)"; fi
done
echo "==> .ci/k8s.sh: done in $((SECONDS - start)) s"
