"""Shared pytest fixtures: the cluster, Redis, a Kubernetes client, a namespace.

Tests under ``tests/unit`` are marked ``unit`` and must not touch the network;
``tests/integration`` gets the ``integration`` marker and runs against a real
API server (see ``support/cluster.py``) and a real ``redis-server`` started
here on a free loopback port; ``tests/e2e`` (marker ``e2e``) runs the
Helm-installed system on real pods (see ``e2e/conftest.py``). They run in
that order.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient

from bgjobs.k8s import Kube
from bgjobs.vocabulary import OUTCOME_FINALIZER
from tests.support.bgjobs import Jobs, Schedules, registry
from tests.support.cluster import Cluster, ensure_cluster, kubectl
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.redis_server import RedisServer

HERE = Path(__file__).parent


LAYERS = ("unit", "integration", "e2e")
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by=bgjobs"
# The e2e tier's first test also waits for the real node, the images and the
# Helm install; its tests run real pods.
E2E_TIMEOUT = 900


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def layer(item: pytest.Item) -> str:
        return Path(str(item.fspath)).resolve().relative_to(HERE).parts[0]

    for item in items:
        if layer(item) in LAYERS:
            item.add_marker(getattr(pytest.mark, layer(item)))
        if layer(item) == "e2e" and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT))
    # Fast tiers first: a broken unit test fails the run in seconds.
    items.sort(key=lambda item: LAYERS.index(layer(item)) if layer(item) in LAYERS else 0)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A reachable Kubernetes API server for the whole session."""
    found = ensure_cluster()
    os.environ["KUBECONFIG"] = str(found.kubeconfig)
    yield found
    found.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client of the session's Redis, emptied before each test."""
    conn = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    await conn.flushall()
    yield conn
    await conn.aclose()


@pytest.fixture
async def api(cluster: Cluster) -> AsyncIterator[ApiClient]:
    """An async Kubernetes API client for one test."""
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    async with ApiClient(cfg) as api_client:
        yield api_client


@pytest.fixture
async def namespace(api: ApiClient, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    base = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"t-{base}-{secrets.token_hex(3)}"
    core = client.CoreV1Api(api)
    await core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={"bgjobs.io/test": "true"})
        )
    )

    async def default_service_account() -> bool:
        accounts = await core.list_namespaced_service_account(name)
        return any(sa.metadata.name == "default" for sa in accounts.items)

    # Pods are refused until the controller manager has made the namespace's
    # default ServiceAccount.
    await eventually(default_service_account, within=30, what=f"ServiceAccount {name}/default")
    yield name
    await release_attempt_jobs(api, name)
    await core.delete_namespace(name, propagation_policy="Background")


async def release_attempt_jobs(api: ApiClient, namespace: str) -> None:
    """Take the operator's outcome finalizer off every attempt Job in ``namespace``.

    The operator removes it once it has recorded an outcome; a test stops its
    operator earlier, and the namespace could then never finish deleting.
    """
    batch = client.BatchV1Api(api)
    jobs = await batch.list_namespaced_job(namespace, label_selector=MANAGED_BY_LABEL)
    held = [
        j.metadata.name for j in jobs.items if OUTCOME_FINALIZER in (j.metadata.finalizers or [])
    ]
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [OUTCOME_FINALIZER]}}
    for start in range(0, len(held), 20):
        await asyncio.gather(
            *(
                batch.patch_namespaced_job(
                    n,
                    namespace,
                    patch,
                    _content_type="application/strategic-merge-patch+json",  # type: ignore[call-arg]
                )
                for n in held[start : start + 20]
            ),
            return_exceptions=True,
        )


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Path:
    """The generated CRDs, applied to the cluster (and Established)."""
    crd_dir = HERE.parent / "crds"
    kc = [kubectl(), "--kubeconfig", str(cluster.kubeconfig)]
    subprocess.run(
        [*kc, "apply", "--server-side", "--force-conflicts", "-f", str(crd_dir)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*kc, "wait", "--for=condition=Established", "--timeout=60s", "-f", str(crd_dir)],
        check=True,
        capture_output=True,
    )
    return crd_dir


@pytest.fixture
def run_operator(
    cluster: Cluster,
    crds: Path,
    redis_server: RedisServer,
    namespace: str,
    tmp_path: Path,
) -> Iterator[Callable[..., OperatorProcess]]:
    """Start the real operator for this test's namespace with a given registry."""
    started: list[OperatorProcess] = []

    def start(registry_doc: dict[str, Any] | None = None, **kwargs: Any) -> OperatorProcess:
        op = OperatorProcess(
            namespace=namespace,
            redis_url=kwargs.get("redis_url", redis_server.url),
            prefix=f"bgjobs-test:{namespace}:",
            workdir=tmp_path,
            kubeconfig=cluster.kubeconfig,
            registry_configmap=kwargs.get("registry_configmap"),
            extra_args=kwargs.get("extra_args"),
            env=kwargs.get("env"),
        )
        if "kubeconfig" in kwargs:
            op.kubeconfig = kwargs["kubeconfig"]
        op.write_registry(registry_doc if registry_doc is not None else registry())
        op.start(**{k: kwargs[k] for k in ("timeout", "ready") if k in kwargs})
        started.append(op)
        return op

    yield start
    for op in started:
        op.stop()
        print(f"---- operator log ({op.log_path}) ----\n{op.log()[-6000:]}")


@pytest.fixture
def jobs(api: ApiClient, namespace: str) -> Jobs:
    return Jobs(api, namespace)


@pytest.fixture
def schedules(api: ApiClient, namespace: str) -> Schedules:
    return Schedules(api, namespace)


@pytest.fixture
async def kube(cluster: Cluster) -> AsyncIterator[Kube]:
    """The operator's own API client, connected to the test cluster."""
    k = await Kube.connect(str(cluster.kubeconfig))
    yield k
    await k.close()


@pytest.fixture
def fake_pods(cluster: Cluster) -> None:
    """Skip unless pods are played by kwok, so a test can dictate their outcome."""
    if not cluster.fake_pods:
        pytest.skip("needs the local kwok cluster, whose pods finish on cue")
