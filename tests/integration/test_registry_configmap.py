"""The handler registry from a ConfigMap, reloaded when the ConfigMap changes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.bgjobs import Jobs, bgjob, registry, status
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

Run = Callable[..., OperatorProcess]


pytestmark = pytest.mark.usefixtures("fake_pods")


async def test_configmap_registry_is_watched(
    run_operator: Run, jobs: Jobs, api: ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api)
    cm = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="bgjobs-registry"),
        data={"registry.yaml": yaml.safe_dump(registry({"work": {}}))},
    )
    await core.create_namespaced_config_map(namespace, cm)
    run_operator(registry_configmap=f"{namespace}/bgjobs-registry")

    await jobs.create(bgjob("known"))
    await jobs.create(bgjob("new-type", "reports"))
    assert status(await jobs.wait("known", "Completed"))["phase"] == "Completed"

    async def unknown() -> bool:
        return status(await jobs.get("new-type") or {}).get("reason") == "UnknownType"

    await eventually(unknown, within=30, what="UnknownType")

    cm.data = {"registry.yaml": yaml.safe_dump(registry({"work": {}, "reports": {}}))}
    await core.replace_namespaced_config_map("bgjobs-registry", namespace, cm)

    assert status(await jobs.wait("new-type", "Completed"))["phase"] == "Completed"
