#!/usr/bin/env bash
# Brings the bgjobs local test cluster up or down: a kwokctl cluster with the
# binary runtime (real etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler as local processes; nodes and pods faked by kwok with the
# Stages in hack/kwok/stages.yaml). No container runtime, no image pulls.
#
#   hack/cluster.sh up       create (or reuse) the cluster, wait until ready
#   hack/cluster.sh down     delete it
#   hack/cluster.sh status   say whether it is up, and where its kubeconfig is
#   hack/cluster.sh env      print `export KUBECONFIG=...` for eval
#
# Environment:
#   BGJOBS_CLUSTER     cluster name (default bgjobs)
#   BGJOBS_KUBECONFIG  kubeconfig written by `up` (default .cluster/kubeconfig)
#   BGJOBS_NODES       number of fake nodes (default 2)
#   BGJOBS_CACHE       toolchain cache (default ~/.cache/bgjobs)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NAME="${BGJOBS_CLUSTER:-bgjobs}"
KCFG="${BGJOBS_KUBECONFIG:-$ROOT/.cluster/kubeconfig}"
NODES="${BGJOBS_NODES:-2}"
BIN="$("$ROOT/hack/toolchain.sh" --print-bin)"
export PATH="$BIN:$PATH"

log() { printf '[cluster] %s\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

kc() { kubectl --kubeconfig "$KCFG" "$@"; }

healthy() {
  [[ -f "$KCFG" ]] && kc get --raw /readyz >/dev/null 2>&1
}

nodes_manifest() {
  local i
  for ((i = 1; i <= NODES; i++)); do
    cat <<EOF
---
apiVersion: v1
kind: Node
metadata:
  name: $NAME-worker-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/hostname: $NAME-worker-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/worker: ""
    type: kwok
EOF
  done
}

up() {
  local t; t="$(now)"
  if healthy; then
    log "cluster $NAME is already up (KUBECONFIG=$KCFG)"
    return 0
  fi
  for b in kwokctl kwok kube-apiserver kube-controller-manager kube-scheduler etcd kubectl; do
    [[ -x "$BIN/$b" ]] || { log "missing $b: run hack/toolchain.sh (make toolchain) first"; exit 1; }
  done
  # A cluster left from an earlier machine session has no processes: start it
  # afresh rather than trusting its state.
  if kwokctl get clusters 2>/dev/null | grep -qx "$NAME"; then
    log "removing stale cluster $NAME"
    kwokctl delete cluster --name "$NAME" >/dev/null 2>&1 || true
  fi
  mkdir -p "$(dirname "$KCFG")" "$ROOT/.cluster"
  rm -f "$KCFG"
  # The Stages, plus canned logs for every pod's handler container (an
  # absolute path, so it is written here).
  local config="$ROOT/.cluster/kwok-config.yaml"
  {
    cat "$ROOT/hack/kwok/stages.yaml"
    printf -- '---\n%s\n' "apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: handler-logs
spec:
  selector: {}
  logs:
  - containers: [handler]
    logsFile: $ROOT/hack/kwok/handler.log
    follow: false"
  } > "$config"
  log "creating cluster $NAME (kwokctl binary runtime, Kubernetes $(kube-apiserver --version | awk '{print $2}'))"
  kwokctl --v=WARN create cluster \
    --name "$NAME" \
    --runtime binary \
    --kubeconfig "$KCFG" \
    --config "$config" \
    --kube-apiserver-binary "$BIN/kube-apiserver" \
    --kube-controller-manager-binary "$BIN/kube-controller-manager" \
    --kube-scheduler-binary "$BIN/kube-scheduler" \
    --kwok-controller-binary "$BIN/kwok" \
    --etcd-binary "$BIN/etcd" \
    --kube-authorization \
    --disable-qps-limits \
    --wait 3m \
    --quiet-pull
  nodes_manifest | kc apply -f - >/dev/null
  kc wait --for=condition=Ready node --all --timeout=120s >/dev/null
  # Pods need the namespace's default ServiceAccount, made by the controller manager.
  local deadline=$((SECONDS + 120))
  until kc get serviceaccount default -n default >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { log "default ServiceAccount never appeared"; exit 1; }
    sleep 0.5
  done
  log "cluster $NAME ready in $(elapsed "$t"): $NODES fake nodes"
  log "use it with: export KUBECONFIG=$KCFG"
}

down() {
  if kwokctl get clusters 2>/dev/null | grep -qx "$NAME"; then
    kwokctl --v=WARN delete cluster --name "$NAME" --kubeconfig "$KCFG"
    log "cluster $NAME deleted"
  else
    log "no cluster $NAME"
  fi
  rm -f "$KCFG"
}

status() {
  if healthy; then
    log "cluster $NAME is up: export KUBECONFIG=$KCFG"
    kc version 2>/dev/null | sed 's/^/[cluster]   /'
  else
    log "cluster $NAME is not running"
    return 1
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$KCFG" ;;
  -h | --help | help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
