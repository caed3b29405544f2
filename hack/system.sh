#!/usr/bin/env bash
# Runs the bgjobs system on the local cluster: a redis-server on loopback, the
# operator (from .venv) in the background, the CRDs and examples/ applied.
#
#   hack/system.sh up      start Redis and the operator, apply CRDs and samples
#   hack/system.sh down    stop the operator and Redis
#   hack/system.sh status  what runs, and `kubectl get bgj`
#
# State, logs and pids live in .cluster/ (operator.log, redis.log).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="$ROOT/.cluster"
export KUBECONFIG="${BGJOBS_KUBECONFIG:-$STATE/kubeconfig}"
export PATH="$("$ROOT/hack/toolchain.sh" --print-bin):$PATH"
PY="$ROOT/.venv/bin/python"

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
      --metrics-port 9108 --liveness http://127.0.0.1:9109/healthz \
      >> "$STATE/operator.log" 2>&1 &
    echo $! > "$STATE/operator.pid"
    log "operator started (log: .cluster/operator.log, metrics: http://127.0.0.1:9108/metrics)"
  fi
  kubectl apply -f "$ROOT/examples/jobs.yaml"
  log "waiting for the sample jobs to finish"
  local deadline=$((SECONDS + 90))
  while ((SECONDS < deadline)); do
    pending="$(kubectl get bgj -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}' \
      | grep -cvE '^(Completed|Failed|Cancelled)$' || true)"
    [[ "$pending" == 0 ]] && break
    sleep 1
  done
  kubectl get bgj -o wide
}

down() {
  for p in operator redis; do
    if alive "$STATE/$p.pid"; then kill "$(cat "$STATE/$p.pid")"; log "stopped $p"; fi
    rm -f "$STATE/$p.pid"
  done
}

status() {
  for p in operator redis; do
    if alive "$STATE/$p.pid"; then log "$p: running"; else log "$p: not running"; fi
  done
  kubectl get bgj -A -o wide 2>/dev/null || true
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; [[ "${1:-}" =~ ^(-h|--help|help)$ ]] || exit 2 ;;
esac
