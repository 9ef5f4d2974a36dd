#!/usr/bin/env bash
# Runs the shard Job, waits for it, then the merge Job (Kubernetes has no
# dependency between Jobs). Every wait has a timeout.
#   deploy/k8s/run.sh [timeout, default 6h]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
timeout=${1:-6h}
kubectl delete job kd-shards kd-merge --ignore-not-found
kubectl apply -f "$here/kd-shards.yaml"
kubectl wait --for=condition=complete --timeout="$timeout" job/kd-shards
kubectl apply -f "$here/kd-merge.yaml"
kubectl wait --for=condition=complete --timeout=1h job/kd-merge
kubectl logs job/kd-merge
