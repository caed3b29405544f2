#!/usr/bin/env bash
# Builds, once, the binaries the local test cluster needs and caches them
# outside git: kube-apiserver, kube-controller-manager, kube-scheduler and
# kubectl from the k8s.io/kubernetes Go module, etcd from a wrapper module
# around etcdmain, kwok/kwokctl, helm and toxiproxy-server (the tests' fault
# injector) with `go install`. With --node, also
# what the real node needs (hack/node.sh): kubelet and kube-proxy from the same
# module, CoreDNS and rancher's local-path-provisioner with `go install`.
#
# Nothing here downloads a prebuilt binary: everything comes from the Go
# module proxy, so it works where only package registries are reachable.
#
#   hack/toolchain.sh            build what is missing, print a summary
#   hack/toolchain.sh --node     the same, plus the real node's binaries
#   hack/toolchain.sh --print-bin  print the bin directory and exit
#
# Environment:
#   BGJOBS_CACHE            cache root (default ~/.cache/bgjobs)
#   KUBE_APISERVER_BINARY, KUBE_CONTROLLER_MANAGER_BINARY,
#   KUBE_SCHEDULER_BINARY, KUBECTL_BINARY, ETCD_BINARY, KWOK_BINARY,
#   KWOKCTL_BINARY, HELM_BINARY, KUBELET_BINARY, KUBE_PROXY_BINARY,
#   COREDNS_BINARY, LOCAL_PATH_PROVISIONER_BINARY, TOXIPROXY_BINARY
#                           use this binary instead of building it
# A binary already on PATH is used when it reports the pinned version line
# (Kubernetes 1.34, etcd 3.5, kwok, helm v3).
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.35}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.12.4}"
LOCAL_PATH_VERSION="${LOCAL_PATH_VERSION:-v0.0.30}"
TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.12.0}"

CACHE="${BGJOBS_CACHE:-$HOME/.cache/bgjobs}"
BIN="$CACHE/bin"

if [[ "${1:-}" == "--print-bin" ]]; then
  echo "$BIN"
  exit 0
fi
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  # The header comment, up to `set -euo pipefail`.
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
NODE=0
case "${1:-}" in
  "") ;;
  --node) NODE=1 ;;
  *) echo "toolchain: unknown argument ${1} (see --help)" >&2; exit 2 ;;
esac

command -v go >/dev/null || { echo "toolchain: Go is required (go >= 1.24)" >&2; exit 1; }
mkdir -p "$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
export CGO_ENABLED=0

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
log() { printf '[toolchain] %s\n' "$*"; }

# link NAME PATH: make $BIN/NAME point at PATH.
link() { ln -sfn "$2" "$BIN/$1"; }

# from_user NAME ENVVAR VERSION_PATTERN VERSION_ARGS...: use a binary the user
# already has (named by ENVVAR, or on PATH reporting the pinned version).
from_user() {
  local name="$1" var="$2" pattern="$3"; shift 3
  local given="${!var:-}"
  if [[ -n "$given" ]]; then
    [[ -x "$given" ]] || { echo "toolchain: $var=$given is not an executable" >&2; exit 1; }
    link "$name" "$given"; log "$name: using $given (from \$$var)"; return 0
  fi
  local found
  found="$(PATH="${PATH//$BIN:/}" command -v "$name" 2>/dev/null || true)"
  if [[ -n "$found" && "$found" != "$BIN/$name" ]] && "$found" "$@" 2>&1 | grep -qE "$pattern"; then
    link "$name" "$found"; log "$name: using $found from PATH"; return 0
  fi
  return 1
}

build_kubernetes() {
  local out="$CACHE/kubernetes-$KUBE_VERSION"
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  ((NODE)) && want+=(kubelet kube-proxy)
  local missing=() n
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}"
  for n in "${want[@]}"; do
    local var; var="$(echo "$n" | tr 'a-z-' 'A-Z_')_BINARY"
    if ! from_user "$n" "$var" "v1\\.$minor\\." --version; then
      if [[ -x "$out/$n" ]]; then link "$n" "$out/$n"; log "$n: cached ($out)"; else missing+=("$n"); fi
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  local t; t="$(now)"
  log "building ${missing[*]} $KUBE_VERSION from the k8s.io/kubernetes module (cold: tens of minutes on 2 cores)"
  local src="$CACHE/src/kubernetes-$KUBE_VERSION"
  mkdir -p "$src" "$out"
  (
    cd "$src"
    local staging="${KUBE_VERSION/v1./v0.}"
    if [[ ! -f go.mod ]]; then
      go mod download k8s.io/kubernetes@"$KUBE_VERSION"
      local kmod; kmod="$(go mod download -json k8s.io/kubernetes@"$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
      {
        echo "module bgjobs.local/kubernetes-build"
        echo
        echo "go $(sed -n 's/^go \(.*\)/\1/p' "$kmod")"
        echo
        echo "require k8s.io/kubernetes $KUBE_VERSION"
        echo
        echo "// k8s.io/kubernetes replaces its staging modules with local paths,"
        echo "// which do not apply to a dependency: pin the published ones."
        echo "replace ("
        sed -n 's#^\t\(k8s.io/[^ ]*\) => ./staging/src/.*#\t\1 => \1 '"$staging"'#p' "$kmod"
        echo ")"
      } > go.mod.tmp
      mv go.mod.tmp go.mod
    fi
    local pkgs=() p
    for n in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$n"); done
    t2="$(now)"
    go get "${pkgs[@]/%/@$KUBE_VERSION}" >/dev/null 2>&1 || go get "${pkgs[@]}"
    log "  resolved modules in $(elapsed "$t2")"
    local vpkgs=(k8s.io/component-base/version k8s.io/client-go/pkg/version)
    local minor_s="${KUBE_VERSION#v1.}"; minor_s="${minor_s%%.*}"
    local ld="-s -w"
    for p in "${vpkgs[@]}"; do
      ld+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor_s"
      ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    done
    for n in "${missing[@]}"; do
      t2="$(now)"
      go build -trimpath -ldflags "$ld" -o "$out/$n.tmp" "k8s.io/kubernetes/cmd/$n"
      mv "$out/$n.tmp" "$out/$n"
      log "  built $n in $(elapsed "$t2")"
    done
  )
  for n in "${missing[@]}"; do link "$n" "$out/$n"; done
  log "kubernetes $KUBE_VERSION: done in $(elapsed "$t")"
}

build_etcd() {
  from_user etcd ETCD_BINARY "etcd Version: 3\\.5\\." --version && return 0
  local out="$CACHE/etcd-$ETCD_VERSION"
  if [[ -x "$out/etcd" ]]; then link etcd "$out/etcd"; log "etcd: cached ($out)"; return 0; fi
  local t; t="$(now)"
  log "building etcd $ETCD_VERSION from a wrapper module around etcdmain"
  local src="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$src" "$out"
  (
    cd "$src"
    cat > main.go <<'GO'
// Command etcd runs etcd's own main, so etcd can be built from the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    [[ -f go.mod ]] || go mod init bgjobs.local/etcd-build >/dev/null 2>&1
    go get go.etcd.io/etcd/server/v3@"$ETCD_VERSION" >/dev/null 2>&1
    go mod tidy >/dev/null 2>&1
    go build -trimpath -ldflags "-s -w" -o "$out/etcd.tmp" .
    mv "$out/etcd.tmp" "$out/etcd"
  )
  link etcd "$out/etcd"
  log "etcd $ETCD_VERSION: built in $(elapsed "$t")"
}

# go_install NAME VERSION_PATTERN MODULE_PATH/cmd VERSION DIR
go_install() {
  local name="$1" var="$2" pattern="$3" pkg="$4" version="$5" out="$6"; shift 6
  from_user "$name" "$var" "$pattern" "$@" && return 0
  if [[ -x "$out/$name" ]]; then link "$name" "$out/$name"; log "$name: cached ($out)"; return 0; fi
  local t; t="$(now)"
  log "installing $name $version with go install"
  mkdir -p "$out"
  GOBIN="$out" go install -trimpath -ldflags "${LDFLAGS:--s -w}" "$pkg@$version" 2>&1 \
    | { grep -v '^go: downloading' || true; }
  local built="$out/${pkg##*/}"  # go install names the binary after the package
  [[ "$built" == "$out/$name" || ! -x "$built" ]] || mv "$built" "$out/$name"
  [[ -x "$out/$name" ]] || { echo "toolchain: go install of $pkg@$version failed" >&2; exit 1; }
  link "$name" "$out/$name"
  log "$name $version: built in $(elapsed "$t")"
}

total="$(now)"
build_kubernetes
build_etcd
LDFLAGS="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}" \
  go_install kwok KWOK_BINARY "kwok" sigs.k8s.io/kwok/cmd/kwok "$KWOK_VERSION" "$CACHE/kwok-$KWOK_VERSION" --version
LDFLAGS="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBE_VERSION#v}" \
  go_install kwokctl KWOKCTL_BINARY "kwok" sigs.k8s.io/kwok/cmd/kwokctl "$KWOK_VERSION" "$CACHE/kwok-$KWOK_VERSION" --version
LDFLAGS="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
  go_install helm HELM_BINARY "v3\\." helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$CACHE/helm-$HELM_VERSION" version --short
LDFLAGS="-s -w -X github.com/Shopify/toxiproxy/v2.Version=${TOXIPROXY_VERSION#v}" \
  go_install toxiproxy-server TOXIPROXY_BINARY "${TOXIPROXY_VERSION#v}" \
  github.com/Shopify/toxiproxy/v2/cmd/server "$TOXIPROXY_VERSION" "$CACHE/toxiproxy-$TOXIPROXY_VERSION" --version
if ((NODE)); then
  go_install coredns COREDNS_BINARY "CoreDNS-${COREDNS_VERSION#v}" github.com/coredns/coredns \
    "$COREDNS_VERSION" "$CACHE/coredns-$COREDNS_VERSION" -version
  LDFLAGS="-s -w -X main.VERSION=$LOCAL_PATH_VERSION" \
    go_install local-path-provisioner LOCAL_PATH_PROVISIONER_BINARY "$LOCAL_PATH_VERSION" \
    github.com/rancher/local-path-provisioner "$LOCAL_PATH_VERSION" "$CACHE/local-path-$LOCAL_PATH_VERSION" --version
fi
log "toolchain ready in $BIN ($(elapsed "$total"))"
