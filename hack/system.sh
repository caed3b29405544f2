#!/usr/bin/env bash
# Runs the bgjobs system on the local cluster, with sample jobs.
#
# On the kwok cluster (the default): a redis-server on loopback, the operator
# (from .venv) in the background, the CRDs and examples/jobs.yaml applied;
# state, logs and pids in .cluster/ (operator.log, redis.log).
#
# With BGJOBS_NODES=real (the cluster with a real kubelet node): as a user
# installs it. The images are built and loaded into the node, the chart is
# installed by Helm (release bgjobs in bgjobs-system, examples/real/values.yaml),
# and the samples in examples/real/ run as real handler pods in `default`,
# talking to a demo sink.
#
#   hack/system.sh up      start the system, apply the samples, wait for them
#   hack/system.sh down    stop the system (the cluster stays)
#   hack/system.sh status  what runs, and `kubectl get bgj`
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$ROOT/.cluster"
REAL=""
if [[ "${BGJOBS_NODES:-}" == real ]]; then
  REAL=1
  # shellcheck source=hack/node/env.sh
  source "$ROOT/hack/node/env.sh"
  STATE="$ROOT/.cluster/$REAL_CLUSTER"
fi
export KUBECONFIG="${BGJOBS_KUBECONFIG:-$STATE/kubeconfig}"
TOOLBIN="$("$ROOT/hack/toolchain.sh" --print-bin)"
export PATH="$TOOLBIN:$PATH"
PY="$ROOT/.venv/bin/python"
RELEASE=bgjobs
SYSTEM_NS=bgjobs-system

log() { printf '[system] %s\n' "$*"; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

up() {
  [[ -f "$KUBECONFIG" ]] || { log "no cluster: run make cluster-up first"; exit 1; }
  mkdir -p "$STATE"
  if ! alive "$STATE/redis.pid"; then
    port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --daemonize yes --pidfile "$STATE/redis.pid" --logfile "$STATE/redis.log" --dir "$STATE"
    echo "$port" > "$STATE/redis.port"
    log "redis-server on 127.0.0.1:$port"
  fi
  kubectl apply --server-side --force-conflicts -f "$ROOT/crds" >/dev/null
  kubectl wait --for=condition=Established --timeout=60s -f "$ROOT/crds" >/dev/null
  if ! alive "$STATE/operator.pid"; then
    nohup "$PY" -m bgjobs run -n default --registry-file "$ROOT/examples/registry.yaml" \
      --redis-url "redis://127.0.0.1:$(cat "$STATE/redis.port")/0" \
      --metrics-port 9108 --health-port 9109 \
      >> "$STATE/operator.log" 2>&1 &
    echo $! > "$STATE/operator.pid"
    log "operator started (log: .cluster/operator.log, metrics: http://127.0.0.1:9108/metrics)"
  fi
  kubectl apply -f "$ROOT/examples/jobs.yaml"
  wait_for_samples 90
}

# Polls (1 s) until every BackgroundJob in `default` is finished, then lists them.
wait_for_samples() {
  log "waiting for the sample jobs to finish"
  local deadline=$((SECONDS + $1)) pending=""
  while ((SECONDS < deadline)); do
    pending="$(kubectl get bgj -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' \
      | grep -cvE '^(Completed|Failed|Cancelled)$' || true)"
    [[ "$pending" == 0 ]] && break
    sleep 1
  done
  kubectl get bgj -o wide
  [[ "$pending" == 0 ]] || log "$pending sample job(s) still unfinished after $1s (kubectl describe bgj NAME says why)"
}

up_real() {
  [[ -f "$KUBECONFIG" ]] || { log "no cluster: run make cluster-up NODES=real first"; exit 1; }
  "$ROOT/hack/node.sh" running || { log "the real node is not running: make cluster-up NODES=real"; exit 1; }
  log "building the images and loading them into the node (hack/images.sh)"
  "$ROOT/hack/images.sh"
  kubectl apply -n default -f "$ROOT/examples/real/sink.yaml" >/dev/null
  log "installing the chart: helm upgrade --install $RELEASE charts/bgjobs -n $SYSTEM_NS"
  helm upgrade --install "$RELEASE" "$ROOT/charts/bgjobs" -n "$SYSTEM_NS" --create-namespace \
    -f "$ROOT/examples/real/values.yaml" --wait --timeout 5m
  kubectl rollout status -n default deploy/demo-sink --timeout 120s
  kubectl apply -n default -f "$ROOT/examples/real/jobs.yaml"
  wait_for_samples 180
  log "what the demo sink received: kubectl logs -n default deploy/demo-sink"
}

down() {
  for p in operator redis; do
    if alive "$STATE/$p.pid"; then kill "$(cat "$STATE/$p.pid")"; log "stopped $p"; fi
    rm -f "$STATE/$p.pid"
  done
}

down_real() {
  [[ -f "$KUBECONFIG" ]] || return 0
  kubectl delete -n default --ignore-not-found --wait=false -f "$ROOT/examples/real/jobs.yaml" >/dev/null 2>&1 || true
  kubectl delete -n default --ignore-not-found -f "$ROOT/examples/real/sink.yaml" >/dev/null 2>&1 || true
  if helm status "$RELEASE" -n "$SYSTEM_NS" >/dev/null 2>&1; then
    helm uninstall "$RELEASE" -n "$SYSTEM_NS" --wait --timeout 5m
  fi
}

status() {
  for p in operator redis; do
    if alive "$STATE/$p.pid"; then log "$p: running"; else log "$p: not running"; fi
  done
  kubectl get bgj -A -o wide 2>/dev/null || true
}

status_real() {
  helm status "$RELEASE" -n "$SYSTEM_NS" 2>/dev/null | sed -n '1,6p' || log "release $RELEASE: not installed"
  kubectl get pods -n "$SYSTEM_NS" 2>/dev/null || true
  kubectl get bgj -A -o wide 2>/dev/null || true
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

case "${1:-}" in
  up) if [[ -n "$REAL" ]]; then up_real; else up; fi ;;
  down) if [[ -n "$REAL" ]]; then down_real; else down; fi ;;
  status) if [[ -n "$REAL" ]]; then status_real; else status; fi ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
