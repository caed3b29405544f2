"""The operator asks the API server only for what is its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.api_proxy import ApiProxy
from tests.support.bgjobs import Jobs, bgjob
from tests.support.cluster import Cluster
from tests.support.operator import SERVING_LINE, OperatorProcess

Run = Callable[..., OperatorProcess]
pytestmark = pytest.mark.usefixtures("fake_pods")


def plain_job(name: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "bgjobs.local/plain:test"}],
                }
            }
        },
    }


async def test_attempt_jobs_are_watched_with_a_label_selector(
    run_operator: Run, jobs: Jobs, api: ApiClient, cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    async with ApiProxy(cluster.kubeconfig) as proxy:
        # (Started without waiting on its API calls: the proxy runs in this loop.)
        op = run_operator(
            kubeconfig=proxy.kubeconfig(tmp_path / "via-proxy"), ready=(SERVING_LINE,)
        )
        await client.BatchV1Api(api).create_namespaced_job(namespace, plain_job("not-ours"))  # type: ignore[arg-type]  # a dict is sent as is
        await jobs.create(bgjob("ours", fake={"run-for": "100ms"}))
        await jobs.wait("ours", "Completed")
        await asyncio.to_thread(op.stop)  # while the proxy still answers

    # Every request for a collection of Jobs (kopf's list, then its watches).
    collections = [
        urlsplit(r.split(" ", 1)[1])
        for r in proxy.requests
        if r.startswith("GET ") and urlsplit(r.split(" ", 1)[1]).path.endswith("/jobs")
    ]
    watches = [u for u in collections if parse_qs(u.query).get("watch") == ["true"]]
    print(f"{len(collections)} Job collection requests, {len(watches)} of them watches")
    assert watches, "no watch on Jobs seen: the test proves nothing"
    for url in collections:
        assert parse_qs(url.query).get("labelSelector") == [
            "app.kubernetes.io/managed-by=bgjobs"
        ], url.geturl()
