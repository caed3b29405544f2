"""The e2e tier: bgjobs installed by Helm, as users install it, on real pods.

The cluster is the local one with a real kubelet node (``BGJOBS_NODES=real``,
see hack/node.sh); the images are built with Docker and loaded into the node;
the chart is installed with its default values except the image settings
and the handler registry (which every user writes). The handlers' peers
(SMTP, PostgreSQL, a SocialPredict-like API, webhook receivers) run on this
host, listening on the node's address, which pods reach through the bridge.

Nothing here dictates an outcome: pods run the shipped handler images and
exit as those do. Tests that need dictated outcomes stay in the kwok tier.
Skipped, with the reason, where the machine can't host the node (not root,
no Debian packages) or no Docker engine can build the images.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import threading
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.controller import Controller
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.cluster import (
    POD_CIDR,
    ROOT,
    Cluster,
    ensure_real_cluster,
    kubectl,
    real_node_unavailable,
    tool_bin,
)
from tests.support.http_peer import Peer, Seen, http_peer
from tests.support.images import HANDLER_TYPES, build_images, docker_problem, handler_image
from tests.support.poll import eventually
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import free_port
from tests.support.smtp import Inbox
from tests.support.socialpredict import KEY, SocialPredict

CHART = ROOT / "charts" / "bgjobs"
RELEASE = "bgjobs"
SYSTEM = "bgjobs-system"
NOTIFY_SECRET = "e2e-notify-secret"
# A type whose pods get far less memory than Python needs: OOMKilled at start.
TINY_MEMORY = "tiny-memory"
# Seconds the notifications handler waits for an answer: longer than any hold.
NOTIFY_TIMEOUT = 150


@pytest.fixture(scope="package")
def real_cluster() -> Iterator[Cluster]:
    why = real_node_unavailable() or docker_problem()
    if why:
        pytest.skip(f"e2e tier needs the real node and Docker: {why}")
    found = ensure_real_cluster()
    try:
        build_images(into_real_node=True)
    except BaseException:
        found.stop()
        raise
    yield found
    found.stop()


@pytest.fixture
async def api(real_cluster: Cluster) -> AsyncIterator[ApiClient]:
    """An async API client of the real-node cluster (replaces the kwok tier's)."""
    cfg = client.Configuration()
    await config.load_kube_config(
        config_file=str(real_cluster.kubeconfig), client_configuration=cfg
    )
    async with ApiClient(cfg) as api_client:
        yield api_client


def node_address(cluster: Cluster) -> str:
    out = subprocess.run(
        [kubectl(), "--kubeconfig", str(cluster.kubeconfig), "get", "nodes", "-o",
         "jsonpath={.items[0].status.addresses[?(@.type=='InternalIP')].address}"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return out.stdout.strip()


@dataclass
class Peers:
    """The handlers' peers, on the host at the node's address."""

    host: str
    inbox: Inbox
    smtp_port: int
    postgres: PostgresServer
    market: SocialPredict
    market_peer: Peer

    def receiver(self, respond: Any) -> Any:
        """A webhook receiver for the notifications handler (a context manager)."""
        return http_peer(respond, host=self.host)


@pytest.fixture(scope="package")
def peers(real_cluster: Cluster) -> Iterator[Peers]:
    host = node_address(real_cluster)
    inbox = Inbox()
    smtp = Controller(inbox, hostname=host, port=free_port())
    smtp.start()
    market = SocialPredict()
    try:
        with PostgresServer(host=host, trust=POD_CIDR) as pg, http_peer(market, host=host) as mp:
            yield Peers(host, inbox, smtp.port, pg, market, mp)
    finally:
        smtp.stop()


class HeldReceiver:
    """A webhook receiver that holds every answer (200) until ``release()``, so
    that attempts are surely mid-run while a test breaks something; counts
    deliveries per idempotency key (one key per BackgroundJob)."""

    # Well under the notifications handler's NOTIFY_TIMEOUT in these values.
    HOLD_AT_MOST = 100.0

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._gate = threading.Event()

    def __call__(self, seen: Seen) -> tuple[int, bytes]:
        with self._lock:
            self.keys[seen.headers["X-Bgjobs-Idempotency-Key"]] += 1
        self._gate.wait(self.HOLD_AT_MOST)
        return 200, b""

    def release(self) -> None:
        self._gate.set()

    async def holding(self, count: int) -> None:
        """Wait until ``count`` deliveries are held (their attempts are running)."""

        async def enough() -> bool:
            with self._lock:
                return len(self.keys) >= count

        await eventually(enough, within=120, what=f"{count} deliveries held at the receiver")


def env_list(**env: str) -> list[dict[str, str]]:
    return [{"name": k, "value": v} for k, v in env.items()]


def default_values(peers: Peers) -> dict[str, Any]:
    """The chart's defaults, plus image settings and the registry (the user's part)."""

    def entry(job_type: str, **cfg: Any) -> dict[str, Any]:
        return {"image": handler_image(job_type), **cfg}

    handlers = {
        "email": entry("email", env=env_list(SMTP_HOST=peers.host, SMTP_PORT=str(peers.smtp_port),
                                             SMTP_SECURITY="none", SMTP_FROM="app@example.org")),
        "notifications": entry("notifications", env=env_list(
            NOTIFY_SECRET=NOTIFY_SECRET, NOTIFY_TIMEOUT=str(NOTIFY_TIMEOUT))),
        "analytics": entry("analytics", env=env_list(DATABASE_URL=peers.postgres.public_url)),
        "market_resolution": entry("market_resolution", env=env_list(
            APP_BASE_URL=peers.market_peer.url, APP_JWT_SIGNING_KEY=KEY)),
        "cleanup": entry("cleanup", serviceAccountName=f"{RELEASE}-cleanup"),
        TINY_MEMORY: entry("notifications", env=env_list(NOTIFY_SECRET=NOTIFY_SECRET),
                           resources={"limits": {"memory": "16Mi"}}),
    }  # fmt: skip
    assert set(HANDLER_TYPES) < set(handlers)
    return {"redis": {"image": {"repository": "bgjobs/redis", "tag": "7.0"}}, "handlers": handlers}


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


class Release:
    """The Helm release of bgjobs in ``bgjobs-system``, kept at the values tests ask for."""

    def __init__(self, cluster: Cluster, base: dict[str, Any], workdir: Path) -> None:
        self.cluster = cluster
        self.base = base
        self.workdir = workdir
        self.applied: dict[str, Any] | None = None

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.cluster.kubeconfig)}
        done = subprocess.run(
            [str(tool_bin() / "helm"), *args], capture_output=True, text=True, env=env, timeout=600
        )
        if check and done.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [kubectl(), "--kubeconfig", str(self.cluster.kubeconfig), *args],
            capture_output=True, text=True, timeout=300, input=stdin,
        )  # fmt: skip
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    def installed(self) -> bool:
        return self.helm("status", RELEASE, "-n", SYSTEM, check=False).returncode == 0

    def ensure(self, **overrides: Any) -> dict[str, Any]:
        """Install or upgrade (and wait for) the release with these values; return them."""
        values = merged(self.base, overrides)
        if values == self.applied and self.installed():
            return values
        path = self.workdir / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        self.helm("upgrade", "--install", RELEASE, str(CHART), "-n", SYSTEM, "--create-namespace",
                  "-f", str(path), "--wait", "--timeout", "5m")  # fmt: skip
        self.applied = values
        return values

    def uninstall(self) -> None:
        self.helm("uninstall", RELEASE, "-n", SYSTEM, "--wait", "--timeout", "5m")
        self.applied = None

    def operator_pods(self) -> list[dict[str, Any]]:
        out = self.kubectl("get", "pods", "-n", SYSTEM, "-o", "json",
                           "-l", "app.kubernetes.io/component=operator")  # fmt: skip
        pods: list[dict[str, Any]] = json.loads(out.stdout)["items"]
        return [p for p in pods if not p["metadata"].get("deletionTimestamp")]

    def logs(self) -> str:
        out = self.kubectl("logs", "-n", SYSTEM, "-l", "app.kubernetes.io/component=operator",
                           "--tail", "200", "--prefix", check=False)  # fmt: skip
        return out.stdout + out.stderr


@pytest.fixture(scope="package")
def system(
    real_cluster: Cluster, peers: Peers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Release]:
    release = Release(real_cluster, default_values(peers), tmp_path_factory.mktemp("release"))
    yield release
    if release.installed():
        release.uninstall()


@pytest.fixture
def release(system: Release) -> Iterator[Release]:
    """The release at the default values (tests needing others call ``ensure``)."""
    system.ensure()
    yield system
    # Shown by pytest only when the test failed.
    print(f"---- operator logs ----\n{system.logs()[-8000:]}")
