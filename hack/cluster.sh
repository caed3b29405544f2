#!/usr/bin/env bash
# Brings a bgjobs local cluster up or down: a kwokctl cluster with the binary
# runtime (real etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler as local processes) and either
#
#   - fake nodes (the default, fast; what the integration tests use): pods are
#     played by kwok with the Stages in hack/kwok/stages.yaml; no container
#     runtime, no image pulls; or
#   - BGJOBS_NODES=real (make cluster-up NODES=real): no kwok controller, and
#     one real kubelet node that runs real pods (hack/node.sh), with CoreDNS
#     and a default StorageClass. Cluster `bgjobs-real`, its kubeconfig in
#     .cluster/bgjobs-real/kubeconfig, so both kinds can run side by side.
#
#   hack/cluster.sh up       create (or reuse) the cluster, wait until ready
#   hack/cluster.sh down     delete it
#   hack/cluster.sh status   say whether it is up, and where its kubeconfig is
#   hack/cluster.sh env      print `export KUBECONFIG=...` for eval
#
# Environment:
#   BGJOBS_NODES       number of fake nodes (default 2), or `real`
#   BGJOBS_CLUSTER     cluster name (default bgjobs, or bgjobs-real)
#   BGJOBS_KUBECONFIG  kubeconfig written by `up` (default .cluster/kubeconfig,
#                      or .cluster/bgjobs-real/kubeconfig)
#   BGJOBS_CACHE       toolchain cache (default ~/.cache/bgjobs)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=hack/node/env.sh
source "$ROOT/hack/node/env.sh"
NODES="${BGJOBS_NODES:-2}"
if [[ "$NODES" == real ]]; then
  NAME="${BGJOBS_CLUSTER:-$REAL_CLUSTER}"
  KCFG="${BGJOBS_KUBECONFIG:-$ROOT/.cluster/$NAME/kubeconfig}"
else
  [[ "$NODES" =~ ^[0-9]+$ ]] || { echo "[cluster] BGJOBS_NODES must be a number or 'real', not '$NODES'" >&2; exit 2; }
  NAME="${BGJOBS_CLUSTER:-bgjobs}"
  KCFG="${BGJOBS_KUBECONFIG:-$ROOT/.cluster/kubeconfig}"
fi
export BGJOBS_CLUSTER="$NAME" BGJOBS_KUBECONFIG="$KCFG"
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

# The config for a cluster with fake nodes: the Stages, plus canned logs for
# every pod's handler container (an absolute path, so it is written here).
fake_config() {
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
}

# The config for a control plane that a real kubelet joins: a Service range
# whose first address is in the serving certificate (in-cluster clients), and
# the API server reaching the kubelet by its InternalIP with a client
# certificate (logs, exec).
real_config() {
  local pki="${KWOK_WORKDIR:-$HOME/.kwok}/clusters/$NAME/pki"
  cat <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  kubeApiserverCertSANs: [$KUBERNETES_SERVICE_IP, kubernetes, kubernetes.default, kubernetes.default.svc, kubernetes.default.svc.$CLUSTER_DOMAIN]
componentsPatches:
  - name: kube-apiserver
    extraArgs:
      - {key: service-cluster-ip-range, value: "$SERVICE_CIDR"}
      - {key: kubelet-preferred-address-types, value: "InternalIP,Hostname"}
      - {key: kubelet-client-certificate, value: "$pki/admin.crt"}
      - {key: kubelet-client-key, value: "$pki/admin.key"}
EOF
}

up() {
  local t; t="$(now)"
  if healthy; then
    log "cluster $NAME is already up (KUBECONFIG=$KCFG)"
    [[ "$NODES" != real ]] || "$ROOT/hack/node.sh" up
    return 0
  fi
  for b in kwokctl kwok kube-apiserver kube-controller-manager kube-scheduler etcd kubectl; do
    [[ -x "$BIN/$b" ]] || { log "missing $b: run hack/toolchain.sh (make toolchain) first"; exit 1; }
  done
  if [[ "$NODES" == real ]]; then
    local why
    why="$("$ROOT/hack/node.sh" check)" || { log "$why"; exit 1; }
    "$ROOT/hack/node.sh" build
  fi
  # A cluster left from an earlier machine session has no processes: start it
  # afresh rather than trusting its state.
  if kwokctl get clusters 2>/dev/null | grep -qx "$NAME"; then
    log "removing stale cluster $NAME"
    [[ "$NODES" != real ]] || "$ROOT/hack/node.sh" down
    kwokctl delete cluster --name "$NAME" >/dev/null 2>&1 || true
  fi
  mkdir -p "$(dirname "$KCFG")"
  rm -f "$KCFG"
  local config kind_args=()
  config="$(dirname "$KCFG")/kwokctl-config.yaml"
  if [[ "$NODES" == real ]]; then
    real_config > "$config"
    # No kwok: the kubelet owns its node. Admission on: ServiceAccount tokens,
    # the default StorageClass, Pod Security.
    kind_args=(--disable kwok-controller --kube-admission)
  else
    fake_config > "$config"
    kind_args=(--kwok-controller-binary "$BIN/kwok")
  fi
  log "creating cluster $NAME (kwokctl binary runtime, Kubernetes $(kube-apiserver --version | awk '{print $2}'))"
  kwokctl --v=WARN create cluster \
    --name "$NAME" \
    --runtime binary \
    --kubeconfig "$KCFG" \
    --config "$config" \
    --kube-apiserver-binary "$BIN/kube-apiserver" \
    --kube-controller-manager-binary "$BIN/kube-controller-manager" \
    --kube-scheduler-binary "$BIN/kube-scheduler" \
    --etcd-binary "$BIN/etcd" \
    --kube-authorization \
    --disable-qps-limits \
    --wait 3m \
    --quiet-pull \
    "${kind_args[@]}"
  if [[ "$NODES" == real ]]; then
    "$ROOT/hack/node.sh" up
  else
    nodes_manifest | kc apply -f - >/dev/null
    kc wait --for=condition=Ready node --all --timeout=120s >/dev/null
  fi
  # Pods need the namespace's default ServiceAccount, made by the controller manager.
  local deadline=$((SECONDS + 120))
  until kc get serviceaccount default -n default >/dev/null 2>&1; do
    ((SECONDS < deadline)) || { log "default ServiceAccount never appeared"; exit 1; }
    sleep 0.5
  done
  if [[ "$NODES" == real ]]; then
    log "cluster $NAME ready in $(elapsed "$t"): one real node"
  else
    log "cluster $NAME ready in $(elapsed "$t"): $NODES fake nodes"
  fi
  log "use it with: export KUBECONFIG=$KCFG"
}

down() {
  [[ "$NODES" != real ]] || "$ROOT/hack/node.sh" down
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

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) echo "export KUBECONFIG=$KCFG" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
