#!/usr/bin/env bash
# Stop a pair started by k8s-up.sh:  scripts/k8s-down.sh NAME   (same as k8s-up.sh --down NAME)
exec "$(dirname "${BASH_SOURCE[0]}")/k8s-up.sh" --down "$@"
