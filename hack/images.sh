#!/usr/bin/env bash
# Builds the bgjobs images with Docker: the operator, the five handlers (one
# Dockerfile, handler-images/Dockerfile, with HANDLER=<type>), and
# Redis for the local clusters (bgjobs/redis:7.0, Debian's redis-server).
# When the real node of the local cluster runs (hack/node.sh), the images
# are loaded into it as well.
#
#   hack/images.sh                 build all of them
#   hack/images.sh operator email  build some
#   hack/images.sh --load [TYPE...]  the same, and fail unless they went into the real node
#   hack/images.sh --base-only     only make sure the base image exists
#
# Base image: $BASE_IMAGE if set (e.g. python:3.11-slim where a registry is
# reachable); otherwise bgjobs/base:bookworm, made here once with debootstrap
# (Debian bookworm, python3, venv) and `docker import`, its tarball cached in
# $BGJOBS_CACHE (default ~/.cache/bgjobs). Python wheels are built on the host
# into handler-images/.wheels, so `docker build` needs no network.
#
# Environment: BASE_IMAGE, IMAGE_PREFIX (default bgjobs/handler-), IMAGE_TAG
# (default 0.1.0), BGJOBS_CACHE.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CTX="$ROOT/handler-images"
CACHE="${BGJOBS_CACHE:-$HOME/.cache/bgjobs}"
PREFIX="${IMAGE_PREFIX:-bgjobs/handler-}"
TAG="${IMAGE_TAG:-0.1.0}"
TYPES=(operator email notifications analytics market_resolution cleanup redis)
PY="${PYTHON:-python3}"

log() { printf '[images] %s\n' "$*"; }

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
LOAD=auto
if [[ "${1:-}" == "--load" ]]; then
  LOAD=required
  shift
  "$ROOT/hack/node.sh" running || { log "--load: the real node does not run (make cluster-up NODES=real)"; exit 1; }
fi
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

command -v docker >/dev/null || { log "docker not found: install docker.io and start dockerd"; exit 1; }
docker info >/dev/null 2>&1 || { log "the Docker daemon does not answer (start dockerd)"; exit 1; }

debian_mirror() {
  # The machine's own Debian mirror, from its apt sources (deb822 or one-line).
  local uri
  uri="$(grep -rhE '^URIs:' /etc/apt/sources.list.d/ 2>/dev/null | awk '{print $2}' | grep -m1 '/debian$' || true)"
  [[ -n "$uri" ]] || uri="$(grep -rhE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
    | awk '{print $2}' | grep -m1 '/debian/\?$' || true)"
  [[ -n "$uri" ]] || { log "no Debian mirror found in the apt sources"; exit 1; }
  echo "$uri"
}

ensure_base() {
  if [[ -n "${BASE_IMAGE:-}" ]]; then
    echo "$BASE_IMAGE"
    return
  fi
  local image=bgjobs/base:bookworm tarball="$CACHE/base-bookworm.tar"
  if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image"
    return
  fi
  if [[ ! -f "$tarball" ]]; then
    command -v debootstrap >/dev/null || { log "debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }
    local t rootfs
    t="$(now)"
    rootfs="$(mktemp -d)"
    log "making the base image with debootstrap (once; cached in $tarball)" >&2
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,passwd \
      bookworm "$rootfs" "$(debian_mirror)" >/dev/null
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    mkdir -p "$CACHE"
    tar -C "$rootfs" -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$rootfs"
    log "debootstrap done in $(elapsed "$t")" >&2
  fi
  docker import "$tarball" "$image" >/dev/null
  echo "$image"
}

base="$(ensure_base)"
[[ "${1:-}" == "--base-only" ]] && { log "base image: $base"; exit 0; }
[[ $# -gt 0 ]] && TYPES=("$@")

total="$(now)"
log "wheels for ${TYPES[*]} (host pip, into handler-images/.wheels)"
reqs=()
for t in "${TYPES[@]}"; do
  [[ "$t" == redis ]] && continue
  if [[ "$t" == operator ]]; then
    # Its own wheel directory: a rebuilt bgjobs wheel must not bust the
    # handler images' cache.
    mkdir -p "$ROOT/.wheels-operator"
    # async-timeout: redis needs it on Python < 3.11.3 (Debian bookworm's
    # python3 is 3.11.2), which the host's newer Python does not download.
    "$PY" -m pip wheel -q --wheel-dir "$ROOT/.wheels-operator" "$ROOT" "async-timeout>=4.0.3"
    continue
  fi
  [[ -f "$CTX/$t/handler.py" ]] || { log "no image named $t"; exit 2; }
  reqs+=(-r "$CTX/$t/requirements.txt")
done
mkdir -p "$CTX/.wheels"
[[ ${#reqs[@]} -gt 0 ]] || reqs=(--no-deps)
# Rebuild the SDK wheel only when its sources changed: a fresh wheel has new
# timestamps inside, which would defeat Docker's layer cache for every image.
sdk_wheel="$(compgen -G "$CTX/.wheels/bgjobs_handler-*.whl" | head -1 || true)"
if [[ -z "$sdk_wheel" ]] || [[ -n "$(find "$CTX/sdk" -newer "$sdk_wheel" -type f -not -path '*/__pycache__/*' -not -path '*.egg-info*' | head -1)" ]]; then
  rm -f "$CTX"/.wheels/bgjobs_handler-*.whl
  "$PY" -m pip wheel -q --no-deps --wheel-dir "$CTX/.wheels" "$CTX/sdk"
fi
"$PY" -m pip wheel -q --wheel-dir "$CTX/.wheels" --find-links "$CTX/.wheels" \
  "$(ls "$CTX"/.wheels/bgjobs_handler-*.whl)" "${reqs[@]}"

built=()
for t in "${TYPES[@]}"; do
  image="$PREFIX${t//_/-}:$TAG"
  dockerfile="$CTX/Dockerfile" context="$CTX" args=(--build-arg "HANDLER=$t")
  if [[ "$t" == operator ]]; then
    image="${OPERATOR_IMAGE:-bgjobs/operator}:$TAG" dockerfile="$ROOT/operator/Dockerfile" context="$ROOT" args=()
  elif [[ "$t" == redis ]]; then
    image="bgjobs/redis:7.0" dockerfile="$ROOT/hack/redis/Dockerfile" context="$ROOT/hack/redis" args=()
  fi
  t0="$(now)"
  docker build -q --build-arg "BASE_IMAGE=$base" "${args[@]}" -f "$dockerfile" -t "$image" "$context" \
    2> >(grep -vE 'DEPRECATED|legacy builder|buildx|docs.docker.com/go/buildx|^ *$' >&2) >/dev/null
  size="$(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}')"
  log "built $image ($size) in $(elapsed "$t0")"
  built+=("$image")
done
if [[ "$LOAD" == required ]] || "$ROOT/hack/node.sh" running 2>/dev/null; then
  "$ROOT/hack/node.sh" load "${built[@]}"
fi
log "all done in $(elapsed "$total")"
