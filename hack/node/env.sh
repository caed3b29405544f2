# shellcheck shell=bash disable=SC2034  # sourced: its readers use these
# The real-node cluster's addresses and names, shared by hack/cluster.sh
# (which starts its control plane) and hack/node.sh (which joins the node).
REAL_CLUSTER="${REAL_CLUSTER:-bgjobs-real}"
SERVICE_CIDR="10.96.0.0/16"
KUBERNETES_SERVICE_IP="10.96.0.1"
DNS_SERVICE_IP="10.96.0.10"
CLUSTER_DOMAIN="cluster.local"
POD_CIDR="10.244.0.0/24"
POD_GATEWAY="10.244.0.1"
BRIDGE="bgjobs0"
# Images of the node's own pods, built here from source (hack/node.sh build).
PAUSE_IMAGE="bgjobs/pause:3.10"
BUSYBOX_IMAGE="bgjobs/busybox:1.35"
