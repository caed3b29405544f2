"""Find or start the Kubernetes cluster the integration tests run against.

Order of preference:

1. ``KUBECONFIG`` (the first file in it), when its API server answers
   ``/readyz``: an existing cluster such as kind is reused as it is;
2. the local kwok cluster's kubeconfig (``.cluster/kubeconfig``) when it is up;
3. otherwise ``hack/cluster.sh up`` starts the local cluster, and the session
   takes it down again at the end (``BGJOBS_KEEP_CLUSTER=1`` keeps it).

The e2e tier needs real pods: ``ensure_real_cluster`` starts (or reuses) the
local cluster with a real kubelet node (``BGJOBS_NODES=real``), where this
machine can host one; ``real_node_unavailable`` says why not otherwise.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL_KUBECONFIG = Path(os.environ.get("BGJOBS_KUBECONFIG", ROOT / ".cluster" / "kubeconfig"))
REAL_CLUSTER = "bgjobs-real"
REAL_KUBECONFIG = ROOT / ".cluster" / REAL_CLUSTER / "kubeconfig"
# The node's own busybox image (hack/node/env.sh): a pod of it with no
# arguments runs `sh` with no input and exits 0 at once.
BUSYBOX_IMAGE = "bgjobs/busybox:1.35"


@functools.cache
def tool_bin() -> Path:
    out = subprocess.run(
        [str(ROOT / "hack" / "toolchain.sh"), "--print-bin"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(out.stdout.strip())


def kubectl() -> str:
    """The pinned kubectl from the toolchain, else one on PATH."""
    cached = tool_bin() / "kubectl"
    if cached.exists():
        return str(cached)
    found = shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl not found: run `make toolchain`")
    return found


def reachable(kubeconfig: Path) -> bool:
    if not kubeconfig.is_file():
        return False
    try:
        done = subprocess.run(
            [kubectl(), "--kubeconfig", str(kubeconfig), "get", "--raw", "/readyz"],
            capture_output=True,
            timeout=10,
        )
    except (subprocess.TimeoutExpired, OSError):
        return False
    return done.returncode == 0


@dataclass
class Cluster:
    kubeconfig: Path
    started_here: bool
    kind: str  # "kwok" for the local cluster, else "external"

    @property
    def fake_pods(self) -> bool:
        """Pods are played by kwok Stages, so tests can dictate their outcome."""
        return self.kind == "kwok"

    def stop(self) -> None:
        if self.started_here and not os.environ.get("BGJOBS_KEEP_CLUSTER"):
            env = {**os.environ, "BGJOBS_NODES": "real"} if self.kind == "real" else None
            subprocess.run([str(ROOT / "hack" / "cluster.sh"), "down"], check=False, env=env)


def real_node_unavailable() -> str | None:
    """Why this machine can't host the real node (``hack/node.sh check``), or None."""
    done = subprocess.run(
        [str(ROOT / "hack" / "node.sh"), "check"], capture_output=True, text=True, timeout=60
    )
    return None if done.returncode == 0 else (done.stdout + done.stderr).strip()


def ensure_real_cluster() -> Cluster:
    """The local cluster with a real kubelet node, started here if it is not up."""
    was_up = reachable(REAL_KUBECONFIG)
    env = {
        **os.environ,
        "BGJOBS_NODES": "real",
        "BGJOBS_CLUSTER": REAL_CLUSTER,
        "BGJOBS_KUBECONFIG": str(REAL_KUBECONFIG),
    }
    # `up` also restarts the node's processes if the control plane outlived them.
    subprocess.run([str(ROOT / "hack" / "cluster.sh"), "up"], check=True, env=env)
    return Cluster(REAL_KUBECONFIG, started_here=not was_up, kind="real")


def ensure_cluster() -> Cluster:
    env = os.environ.get("KUBECONFIG")
    if env:
        first = Path(env.split(os.pathsep)[0]).expanduser()
        if first.resolve() != LOCAL_KUBECONFIG.resolve() and reachable(first):
            return Cluster(first, started_here=False, kind=_kind_of(first))
    if reachable(LOCAL_KUBECONFIG):
        return Cluster(LOCAL_KUBECONFIG, started_here=False, kind=_kind_of(LOCAL_KUBECONFIG))
    subprocess.run([str(ROOT / "hack" / "cluster.sh"), "up"], check=True)
    return Cluster(LOCAL_KUBECONFIG, started_here=True, kind=_kind_of(LOCAL_KUBECONFIG))


def _kind_of(kubeconfig: Path) -> str:
    out = subprocess.run(
        [
            kubectl(),
            "--kubeconfig",
            str(kubeconfig),
            "get",
            "nodes",
            "-o",
            "jsonpath={.items[*].metadata.annotations.kwok\\.x-k8s\\.io/node}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return "kwok" if "fake" in out.stdout else "external"
