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
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL_KUBECONFIG = Path(os.environ.get("BGJOBS_KUBECONFIG", ROOT / ".cluster" / "kubeconfig"))


def _node_env() -> dict[str, str]:
    """The real node's names and addresses, from hack/node/env.sh (one source)."""
    text = (ROOT / "hack" / "node" / "env.sh").read_text()
    return dict(re.findall(r'^([A-Z_]+)="(?:\$\{[A-Z_]+:-)?([^"}]*)\}?"', text, re.MULTILINE))


NODE_ENV = _node_env()
REAL_CLUSTER = NODE_ENV["REAL_CLUSTER"]
REAL_KUBECONFIG = ROOT / ".cluster" / REAL_CLUSTER / "kubeconfig"
# The node's own busybox image: a pod of it with no arguments runs `sh` with
# no input and exits 0 at once.
BUSYBOX_IMAGE = NODE_ENV["BUSYBOX_IMAGE"]
POD_CIDR = NODE_ENV["POD_CIDR"]


def real_env() -> dict[str, str]:
    """The environment for hack/ scripts acting on the real-node cluster, whatever
    the caller's ``BGJOBS_*`` say about the kwok one."""
    return {
        **os.environ,
        "BGJOBS_NODES": "real",
        "BGJOBS_CLUSTER": REAL_CLUSTER,
        "BGJOBS_KUBECONFIG": str(REAL_KUBECONFIG),
    }


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
    kind: str  # "kwok": the local cluster; "real": the real-node one; else "external"

    @property
    def fake_pods(self) -> bool:
        """Pods are played by kwok Stages, so tests can dictate their outcome."""
        return self.kind == "kwok"

    def stop(self) -> None:
        if self.started_here and not os.environ.get("BGJOBS_KEEP_CLUSTER"):
            env = real_env() if self.kind == "real" else None
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
    cluster = Cluster(REAL_KUBECONFIG, started_here=not was_up, kind="real")
    # `up` also restarts the node's processes if the control plane outlived them.
    try:
        subprocess.run([str(ROOT / "hack" / "cluster.sh"), "up"], check=True, env=real_env())
    except BaseException:
        cluster.stop()  # a half-started node is put back as it was
        raise
    return cluster


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
