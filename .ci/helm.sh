#!/usr/bin/env bash
# CI step for the Helm chart: makes sure a helm binary exists (building it from its Go module on a
# fresh machine, a few minutes; a no-op when cached) and lints the chart with it, so that a broken
# toolchain or chart shows up here rather than inside the test run. test/helm/chart.test.ts uses
# the same cached binary. Prints the helm binary's path on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
helm="$(bash scripts/helm-build.sh | tail -n 1)"
echo "ci/helm: $("$helm" version --short) ready in $((SECONDS - start))s" >&2

# Keep helm's own config and cache out of the CI user's home.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
export HELM_CACHE_HOME="$scratch/cache" HELM_CONFIG_HOME="$scratch/config" HELM_DATA_HOME="$scratch/data"
"$helm" lint --strict deploy/helm/meshpeer >&2

echo "$helm"
