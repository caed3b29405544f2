#!/usr/bin/env bash
# The real node of the local cluster: a kubelet that runs real pods, joined
# to the control plane that `hack/cluster.sh up` starts with BGJOBS_NODES=real.
#
# On this machine, from Go modules and Debian packages only: containerd (its
# own root, state and socket, beside any Docker), runc, the CNI bridge on
# bgjobs0 (10.244.0.0/24), kubelet and kube-proxy v1.34 (iptables mode), and
# in the cluster CoreDNS and rancher's local-path-provisioner as the default
# StorageClass. Nothing is pulled: the pause, CoreDNS, provisioner and busybox
# images are packed here from binaries built from source (hack/node/image.py),
# and `load` copies images from the local Docker engine into the node.
#
#   hack/node.sh check          can this machine host the node? (prints why not)
#   hack/node.sh deps           install the Debian packages it needs
#   hack/node.sh build          build, once, its binaries and images (cached)
#   hack/node.sh up             start it and join it to $BGJOBS_KUBECONFIG
#   hack/node.sh load IMAGE...  copy images from Docker into the node
#   hack/node.sh running        exit 0 if the node's containerd answers
#   hack/node.sh down           stop it, put back what `up` changed, say what differs
#   hack/node.sh status         what runs
#
# Needs root: it runs containers, and changes iptables, a bridge and a few
# sysctls (the kubelet sets vm.overcommit_memory, kernel.panic and
# kernel.panic_on_oops; pods need net.ipv4.ip_forward). `up` saves their
# values and `down` restores them, deletes the chains and the bridge, and
# compares the machine with the snapshot taken before `up`.
#
# Environment:
#   BGJOBS_CLUSTER      cluster name (default bgjobs-real)
#   BGJOBS_KUBECONFIG   the cluster's kubeconfig (default .cluster/<name>/kubeconfig)
#   BGJOBS_NODE_STATE   node data: containerd, kubelet, volumes (default /var/lib/bgjobs/<name>)
#   BGJOBS_CACHE        toolchain cache (default ~/.cache/bgjobs)
#   KWOK_WORKDIR        kwokctl's work dir, for the cluster's CA (default ~/.kwok)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=hack/node/env.sh
source "$ROOT/hack/node/env.sh"
NAME="${BGJOBS_CLUSTER:-$REAL_CLUSTER}"
LOCAL="$ROOT/.cluster/$NAME"
KCFG="${BGJOBS_KUBECONFIG:-$LOCAL/kubeconfig}"
STATE="${BGJOBS_NODE_STATE:-/var/lib/bgjobs/$NAME}"
RUN="/run/bgjobs/$NAME"
SOCK="$RUN/containerd.sock"
PKI="${KWOK_WORKDIR:-$HOME/.kwok}/clusters/$NAME/pki"
NODE_NAME="$NAME-node"
CACHE="${BGJOBS_CACHE:-$HOME/.cache/bgjobs}"
IMAGES="$CACHE/node-images"
BIN="$("$ROOT/hack/toolchain.sh" --print-bin)"
export PATH="$BIN:$PATH"
STATE_MARK=.bgjobs-node
PACKAGES=(containerd runc containernetworking-plugins iptables conntrack busybox-static gcc libc6-dev)
CNI_BIN=/usr/lib/cni
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
  net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables net.ipv4.conf.all.route_localnet)

log() { printf '[node] %s\n' "$*"; }
die() { printf '[node] %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
kc() { kubectl --kubeconfig "$KCFG" "$@"; }
ctr_() { ctr --address "$SOCK" --namespace k8s.io "$@"; }
# alive NAME: its pid file names a live process running the NAME binary (a
# pid reused after a reboot is not ours).
alive() {
  [[ -f "$LOCAL/$1.pid" ]] || return 1
  local exe; exe="$(readlink "/proc/$(cat "$LOCAL/$1.pid")/exe" 2>/dev/null)" || return 1
  exe="${exe% (deleted)}"
  [[ "${exe##*/}" == "$1" ]]
}

# missing_packages: the Debian packages still to install. containerd and runc
# count as there when their commands are (Docker CE's containerd.io has them).
missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    case "$p" in containerd | runc) command -v "$p" >/dev/null && continue ;; esac
    dpkg -s "$p" >/dev/null 2>&1 || echo "$p"
  done
}

# kube_traces: signs of a Kubernetes node this script did not start (its
# iptables chains, CNI network namespaces, pod cgroups), which `down` would remove.
kube_traces() {
  [[ -f "$LOCAL/machine.before" ]] && return 0  # ours: up ran, down has not
  {
    iptables-save 2>/dev/null | grep -oE '^:(KUBE|CNI)-[A-Z0-9-]+' | head -1 | tr -d :
    compgen -G '/run/netns/cni-*' | head -1 || true
    find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -name 'kubepods*' 2>/dev/null | head -1
  } | paste -sd ' ' -
}

# why_not: one line saying why this machine cannot host the node, or nothing.
why_not() {
  [[ "$(uname -s)" == Linux ]] || { echo "the real node needs Linux (this is $(uname -s))"; return; }
  [[ "$(id -u)" == 0 ]] || { echo "the real node needs root (containers, iptables, a bridge)"; return; }
  [[ -d /sys/fs/cgroup ]] || { echo "no /sys/fs/cgroup"; return; }
  [[ -d /proc/sys/net/bridge ]] || modprobe br_netfilter 2>/dev/null ||
    { echo "the kernel has no bridge netfilter (br_netfilter)"; return; }
  local missing traces
  missing="$(missing_packages | paste -sd ' ' -)"
  if [[ -n "$missing" ]] && ! command -v apt-get >/dev/null; then
    echo "missing $missing and no apt-get to install them"; return
  fi
  traces="$(kube_traces)"
  [[ -z "$traces" ]] || echo "another Kubernetes node seems to run on this machine ($traces); stop it first: the real node would share, and its down remove, these"
}

check() {
  local why; why="$(why_not)"
  [[ -z "$why" ]] || { echo "$why"; exit 1; }
  echo "this machine can host the real node"
}

deps() {
  local missing=()
  mapfile -t missing < <(missing_packages)
  ((${#missing[@]})) || return 0
  if [[ "$(id -u)" != 0 ]]; then
    # `make test` goes on: the e2e tier is skipped, saying why.
    log "not root: not installing ${missing[*]} (the real node needs root anyway)"
    return 0
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  # --no-remove: never trade a package already there (e.g. Docker CE's
  # containerd.io) for one of these; apt fails instead, and says which.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-remove "${missing[@]}" >/dev/null ||
    die "apt-get could not install ${missing[*]} without removing packages; install them yourself"
}

# pack NAME TAG ROOTFS ENTRYPOINT...: a one-layer image archive in $IMAGES.
pack() {
  local name="$1" tag="$2" rootfs="$3"; shift 3
  python3 "$ROOT/hack/node/image.py" "$rootfs" "$IMAGES/$name.tar" --tag "$tag" --entrypoint "$@" >/dev/null
  log "image $tag packed"
}

coredns_image() { echo "bgjobs/coredns:$(coredns -version | sed -n 's/^CoreDNS-//p' | head -1)"; }
provisioner_image() { echo "bgjobs/local-path-provisioner:$(local-path-provisioner --version | awk '{print $NF}')"; }

# A subshell: its scratch directory goes with it.
build() (
  local t; t="$(now)"
  deps
  "$ROOT/hack/toolchain.sh" --node
  mkdir -p "$IMAGES"
  local work; work="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" EXIT
  local stamp="$IMAGES/.built" sources=("$ROOT/hack/node/pause.c" "$ROOT/hack/node/image.py" "$ROOT/hack/node/env.sh" "$BIN/coredns" "$BIN/local-path-provisioner")
  if [[ -f "$stamp" ]] && [[ -z "$(find -L "${sources[@]}" -newer "$stamp" 2>/dev/null)" ]]; then
    log "node images: cached ($IMAGES)"
  else
    mkdir -p "$work/pause" "$work/coredns" "$work/provisioner/bin" "$work/busybox/bin"
    gcc -static -O2 -s -Wall -Wextra -o "$work/pause/pause" "$ROOT/hack/node/pause.c"
    pack pause "$PAUSE_IMAGE" "$work/pause" /pause
    cp -L "$BIN/coredns" "$work/coredns/coredns"
    pack coredns "$(coredns_image)" "$work/coredns" /coredns
    cp -L "$BIN/local-path-provisioner" "$work/provisioner/bin/local-path-provisioner"
    pack local-path-provisioner "$(provisioner_image)" "$work/provisioner" /bin/local-path-provisioner
    # The provisioner's helper pods run shell scripts: busybox and its applets.
    cp /bin/busybox "$work/busybox/bin/busybox"
    local applet
    for applet in sh mkdir rm rmdir chmod ls cat; do ln -s busybox "$work/busybox/bin/$applet"; done
    pack busybox "$BUSYBOX_IMAGE" "$work/busybox" /bin/sh
    touch "$stamp"
  fi
  log "node binaries and images ready in $(elapsed "$t")"
)

node_ip() {
  local ip
  ip="$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "src") print $(i + 1)}' | head -1)"
  [[ -n "$ip" ]] || ip="$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)"
  [[ -n "$ip" ]] || die "no IPv4 address to give the node"
  echo "$ip"
}

# snapshot: what `up` may change on the machine, one fact per line.
snapshot() {
  local table
  for table in filter nat mangle raw; do
    { iptables-save -t "$table" 2>/dev/null | grep -vE '^(#|COMMIT|\*)' | sed -E "s/^/iptables $table /; s/\[[0-9]+:[0-9]+\]//"; } || true
    { ip6tables-save -t "$table" 2>/dev/null | grep -vE '^(#|COMMIT|\*)' | sed -E "s/^/ip6tables $table /; s/\[[0-9]+:[0-9]+\]//"; } || true
  done
  ip -o link show | awk '{sub(/@.*/, "", $2); print "link", $2}'
  ip -4 route show | sed 's/^/route /'
  # Mounts where the node makes them (others, e.g. Docker's, come and go).
  awk -v s="$STATE" -v r="$RUN" '$5 == s || $5 == r || index($5, s "/") == 1 || index($5, r "/") == 1 ||
    index($5, "/run/netns/") == 1 {print "mount", $5}' /proc/self/mountinfo
  local key
  for key in "${SYSCTLS[@]}"; do echo "sysctl $key = $(sysctl -n "$key" 2>/dev/null)"; done
  find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -name 'kubepods*' 2>/dev/null | sed 's/^/cgroup /'
  find /run/netns -mindepth 1 -maxdepth 1 -printf 'netns %f\n' 2>/dev/null || true
}

write_configs() {
  local ip="$1"
  mkdir -p "$STATE"/{containerd,cni/net.d,cni/ipam,kubelet,pod-logs,volumes} "$RUN" "$LOCAL"
  touch "$STATE/$STATE_MARK"  # `down` deletes $STATE only when this is there
  # Written only when they change: kube-proxy exits when its file is rewritten.
  local tmp; tmp="$(mktemp)"
  cat > "$tmp" <<EOF
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine's capability bounding set lacks CAP_SYS_RESOURCE: never ask
  # for an oom_score_adj below containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN"
    conf_dir = "$STATE/cni/net.d"
EOF
  install_if_changed "$tmp" "$STATE/containerd.toml"
  cat > "$tmp" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "bgjobs",
  "plugins": [
    {"type": "bridge", "bridge": "$BRIDGE", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$STATE/cni/ipam",
              "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
              "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall"}
  ]
}
EOF
  install_if_changed "$tmp" "$STATE/cni/net.d/10-bgjobs.conflist"
  cat > "$tmp" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$SOCK
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
address: $ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
clusterDomain: $CLUSTER_DOMAIN
clusterDNS: [$DNS_SERVICE_IP]
resolvConf: $(resolv_conf)
podLogsDir: $STATE/pod-logs
oomScoreAdj: 0
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
  install_if_changed "$tmp" "$STATE/kubelet/config.yaml"
  cat > "$tmp" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $KCFG}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
oomScoreAdj: 0
# Leave the host's conntrack sysctls and route_localnet as they are.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF
  install_if_changed "$tmp" "$STATE/kube-proxy.yaml"
  rm -f "$tmp"
}

install_if_changed() { cmp -s "$1" "$2" 2>/dev/null || cp "$1" "$2"; }

# The upstream resolvers for CoreDNS: with systemd-resolved, /etc/resolv.conf
# names 127.0.0.53, a loop from inside a pod.
resolv_conf() {
  if [[ -s /run/systemd/resolve/resolv.conf ]]; then echo /run/systemd/resolve/resolv.conf
  else echo /etc/resolv.conf; fi
}

# start NAME CMD...: run a daemon in the background, its log and pid in $LOCAL.
start() {
  local name="$1"; shift
  alive "$name" && return 0
  nohup "$@" >> "$LOCAL/$name.log" 2>&1 &
  echo $! > "$LOCAL/$name.pid"
}

# until_ok SECONDS WHAT CMD...: poll CMD until it succeeds.
until_ok() {
  local within="$1" what="$2"; shift 2
  local deadline=$((SECONDS + within))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not ready after ${within}s (logs: $LOCAL/)"
    sleep 0.5
  done
}

up() {
  local t; t="$(now)"
  local why; why="$(why_not)"
  [[ -z "$why" ]] || die "$why"
  [[ -f "$KCFG" ]] || die "no kubeconfig at $KCFG: start the control plane with BGJOBS_NODES=real hack/cluster.sh up"
  [[ -f "$PKI/ca.crt" ]] || die "no cluster CA at $PKI"
  [[ -f "$IMAGES/.built" && -x "$BIN/kubelet" ]] || build
  local ip; ip="$(node_ip)"
  mkdir -p "$LOCAL"
  [[ -f "$LOCAL/machine.before" ]] || snapshot > "$LOCAL/machine.before"
  if [[ ! -f "$LOCAL/sysctl.before" ]]; then
    local key
    for key in "${SYSCTLS[@]}"; do echo "$key=$(sysctl -n "$key")"; done > "$LOCAL/sysctl.before"
  fi
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1
  write_configs "$ip"

  start containerd containerd --config "$STATE/containerd.toml"
  until_ok 30 containerd ctr_ version
  local image
  for image in "$IMAGES"/*.tar; do ctr_ images import "$image" >/dev/null; done

  start kubelet kubelet --config "$STATE/kubelet/config.yaml" --kubeconfig "$KCFG" \
    --root-dir "$STATE/kubelet/root" --cert-dir "$STATE/kubelet/pki" \
    --hostname-override "$NODE_NAME" --node-ip "$ip" \
    --node-labels "bgjobs.io/node=real" --v=1
  start kube-proxy kube-proxy --config "$STATE/kube-proxy.yaml" --v=1
  until_ok 60 "node $NODE_NAME" kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s
  log "node $NODE_NAME Ready ($ip, pods on $POD_CIDR) after $(elapsed "$t")"

  sed -e "s|@CLUSTER_DOMAIN@|$CLUSTER_DOMAIN|; s|@DNS_IP@|$DNS_SERVICE_IP|" \
      -e "s|@COREDNS_IMAGE@|$(coredns_image)|; s|@PROVISIONER_IMAGE@|$(provisioner_image)|" \
      -e "s|@HELPER_IMAGE@|$BUSYBOX_IMAGE|g; s|@VOLUME_DIR@|$STATE/volumes|" \
      "$ROOT/hack/node/addons.yaml" | kc apply -f - >/dev/null
  until_ok 120 CoreDNS kc -n kube-system wait --for=condition=Available deploy/coredns --timeout=2s
  until_ok 120 local-path-provisioner kc -n local-path-storage wait --for=condition=Available deploy/local-path-provisioner --timeout=2s
  log "real node up in $(elapsed "$t"): CoreDNS at $DNS_SERVICE_IP, default StorageClass local-path"
}

load() {
  (($#)) || die "load: name the images (e.g. bgjobs/operator:0.1.0)"
  ctr_ version >/dev/null 2>&1 || die "the node's containerd is not running (hack/node.sh up)"
  if ! { command -v docker >/dev/null && docker info >/dev/null 2>&1; }; then
    die "no Docker engine to take the images from"
  fi
  local t; t="$(now)"
  # One archive for all: the layers they share (the base) are written once.
  docker save "$@" | ctr_ images import - >/dev/null
  log "loaded $# image(s) into $NODE_NAME in $(elapsed "$t")"
}

# Delete every rule that jumps to a KUBE-* or CNI-* chain, then those chains.
delete_chains() {
  local tool table rule chain
  for tool in iptables ip6tables; do
    for table in filter nat mangle raw; do
      "$tool" -t "$table" -S >/dev/null 2>&1 || continue
      while read -r rule; do
        if [[ -n "$rule" ]]; then eval "$tool -t $table ${rule/#-A/-D}" 2>/dev/null || true; fi
      done < <("$tool" -t "$table" -S | grep -E '^-A ' | grep -vE '^-A (KUBE|CNI)-' | grep -E -- '-j (KUBE|CNI)-')
      for chain in $("$tool" -t "$table" -S | awk '/^-N (KUBE|CNI)-/ {print $2}'); do
        "$tool" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$tool" -t "$table" -S | awk '/^-N (KUBE|CNI)-/ {print $2}'); do
        "$tool" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
}

# kill_leftovers: what outlived containerd (it was killed, or crashed): the
# shims of this node's socket, and every process in a pod cgroup.
kill_leftovers() {
  pkill -9 -f -- "containerd-shim.* -address $SOCK( |\$)" 2>/dev/null || true
  local procs
  procs="$(find /sys/fs/cgroup -mindepth 1 -path '*/kubepods*' -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)"
  # shellcheck disable=SC2086  # one argument per pid
  [[ -z "$procs" ]] || kill -9 $procs 2>/dev/null || true
}

stop() {
  local name="$1" pid
  alive "$name" || { rm -f "$LOCAL/$name.pid"; return 0; }
  pid="$(cat "$LOCAL/$name.pid")"
  kill "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$LOCAL/$name.pid"
}

down() {
  local t; t="$(now)"
  # Pods first, while the kubelet still tears sandboxes down (CNI DEL).
  if alive kubelet && kc get --raw /readyz >/dev/null 2>&1; then
    kc cordon "$NODE_NAME" >/dev/null 2>&1 || true
    kc delete pods -A --field-selector "spec.nodeName=$NODE_NAME" --grace-period=1 --wait=false >/dev/null 2>&1 || true
    # Gone from the API once the kubelet has stopped their containers and
    # sandboxes (the kubelet removes dead containers later, in its GC).
    local deadline=$((SECONDS + 60)) left
    while ((SECONDS < deadline)); do
      # An API error is not "no pods": try again.
      left="$(kc get pods -A --field-selector "spec.nodeName=$NODE_NAME" -o name 2>/dev/null)" &&
        [[ -z "$left" ]] && break
      sleep 0.5
    done
    kc delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
  fi
  stop kube-proxy
  stop kubelet
  if alive containerd; then
    local id
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ tasks delete -f "$id" >/dev/null 2>&1 || true; ctr_ containers rm "$id" >/dev/null 2>&1 || true; done
  fi
  stop containerd
  kill_leftovers
  # Machine-wide, but `up` refused to start beside another node (kube_traces).
  if [[ -x "$BIN/kube-proxy" ]]; then "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  delete_chains
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done < <(awk -v s="$STATE" -v r="$RUN" '$5 == s || $5 == r || index($5, s "/") == 1 || index($5, r "/") == 1 {print $5}' /proc/self/mountinfo | sort -r)
  for m in /run/netns/cni-*; do
    if [[ -e "$m" ]]; then ip netns delete "${m##*/}" 2>/dev/null || true; fi
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link delete "$BRIDGE" || log "could not delete the bridge $BRIDGE (ip link delete $BRIDGE)"
  fi
  find /sys/fs/cgroup -mindepth 1 -depth -type d -path '*/kubepods*' -exec rmdir {} + 2>/dev/null || true
  if [[ -f "$LOCAL/sysctl.before" ]]; then
    sysctl -qp "$LOCAL/sysctl.before" >/dev/null 2>&1 || true
    rm -f "$LOCAL/sysctl.before"
  fi
  if [[ -d "$STATE" && ! -f "$STATE/$STATE_MARK" ]]; then
    log "not deleting $STATE: no $STATE_MARK in it, so not made by hack/node.sh up"
  else
    rm -rf "$STATE"
  fi
  rm -rf "$RUN"
  log "node stopped in $(elapsed "$t")"
  if [[ -f "$LOCAL/machine.before" ]]; then
    local diff
    diff="$(diff <(sort "$LOCAL/machine.before") <(snapshot | sort) || true)"
    if [[ -z "$diff" ]]; then
      log "the machine is as it was before up (iptables, links, routes, mounts, sysctls, cgroups)"
    else
      log "differs from before up:"
      printf '%s\n' "$diff" | sed 's/^/[node]   /'
    fi
    rm -f "$LOCAL/machine.before"
  fi
}

status() {
  local p
  for p in containerd kubelet kube-proxy; do
    if alive "$p"; then log "$p: running (log $LOCAL/$p.log)"; else log "$p: not running"; fi
  done
  kc get node "$NODE_NAME" -o wide 2>/dev/null || true
}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

case "${1:-}" in
  check) check ;;
  deps) deps ;;
  build) build ;;
  up) up ;;
  load) shift; load "$@" ;;
  running) ctr_ version >/dev/null 2>&1 ;;
  down) down ;;
  status) status ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
esac
