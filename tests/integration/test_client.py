"""The Python client (bgjobs.client), sync and async, against the real operator."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from bgjobs.client import (
    AsyncClient,
    Client,
    Forbidden,
    InvalidJob,
    JobFailed,
    NotCancellable,
    NotFound,
    NotRetryable,
    WaitTimeout,
)
from tests.support.bgjobs import Jobs
from tests.support.cluster import Cluster, kubectl
from tests.support.operator import OperatorProcess

Run = Callable[..., OperatorProcess]
pytestmark = pytest.mark.usefixtures("fake_pods")


@pytest.fixture
def sync_client(cluster: Cluster, namespace: str, crds: object) -> Iterator[Client]:
    c = Client(namespace, kubeconfig=str(cluster.kubeconfig))
    yield c
    c.close()


def test_enqueue_and_wait_return_the_result(run_operator: Run, sync_client: Client) -> None:
    run_operator()
    handle = sync_client.enqueue(
        "work",
        {"to": "ada@example.org", "_fake": {"message": {"status": "sent"}}},
        priority="High",
        timeout=45,
        retry_policy={"maxRetries": 1, "initialDelay": 0.5},
        labels={"team": "growth"},
    )

    assert handle.wait(timeout=60) == {"status": "sent"}
    job = handle.refresh()
    assert job.phase == "Completed"
    assert job.spec["timeout"] == "45s"
    assert job.spec["retryPolicy"] == {"maxRetries": 1, "initialDelay": "500ms"}
    assert job.raw["metadata"]["labels"]["team"] == "growth"
    assert job.priority == "High"


def test_errors_are_typed_and_name_the_cause(run_operator: Run, sync_client: Client) -> None:
    run_operator()
    with pytest.raises(NotFound, match="no-such-job"):
        sync_client.get("no-such-job")
    with pytest.raises(InvalidJob, match=r"spec\.priority"):
        sync_client.enqueue("work", {}, priority="Meh")
    with pytest.raises(InvalidJob, match=r"spec\.delay"):
        sync_client.enqueue("work", {}, delay="soon")

    failing = sync_client.enqueue("work", {"_fake": {"exit-code": "3", "message": "bad market"}})
    with pytest.raises(JobFailed, match="bad market") as failed:
        failing.wait(timeout=60)
    assert failed.value.job.reason == "PermanentFailure"

    slow = sync_client.enqueue("work", {"_fake": {"hang": "true"}})
    with pytest.raises(WaitTimeout, match="still"):
        slow.wait(timeout=1)
    with pytest.raises(NotRetryable, match="only a Failed job"):
        sync_client.retry(slow.name)


def test_retry_and_cancel(run_operator: Run, sync_client: Client) -> None:
    run_operator()
    flaky = sync_client.enqueue("work", {"_fake": {"exit-code": "3,0", "message": {"n": 2}}})
    with pytest.raises(JobFailed):
        flaky.wait(timeout=60)

    sync_client.retry(flaky.name)
    assert flaky.wait(timeout=60) == {"n": 2}

    slow = sync_client.enqueue("work", {"_fake": {"hang": "true"}})
    slow.cancel()
    with pytest.raises(JobFailed, match="Cancelled"):
        slow.wait(timeout=60)
    with pytest.raises(NotCancellable, match="already Cancelled"):
        sync_client.cancel(slow.name)


def test_list_filters_and_pages(run_operator: Run, sync_client: Client, jobs: Jobs) -> None:
    run_operator()
    for i in range(3):
        sync_client.enqueue("work", {}, name=f"normal-{i}", labels={"batch": "a"})
    sync_client.enqueue("work", {}, name="urgent-0", priority="Urgent", labels={"batch": "b"})
    sync_client.enqueue("work", {"_fake": {"exit-code": "3"}}, name="broken-0")
    for name in ("normal-0", "normal-1", "normal-2", "urgent-0"):
        sync_client.wait(name, timeout=60)
    with pytest.raises(JobFailed):
        sync_client.wait("broken-0", timeout=60)

    assert {j.name for j in sync_client.list(labels={"batch": "a"})} == {
        "normal-0",
        "normal-1",
        "normal-2",
    }
    assert [j.name for j in sync_client.list(priority="urgent")] == ["urgent-0"]
    assert [j.name for j in sync_client.list(phase="failed")] == ["broken-0"]
    assert len(sync_client.list(type="work")) == 5
    assert len(sync_client.list(type="other")) == 0

    first = sync_client.list(limit=2)
    assert len(first) == 2
    assert first.continue_token
    rest = sync_client.list(limit=10, continue_token=first.continue_token)
    assert {j.name for j in first} | {j.name for j in rest} == {
        "normal-0",
        "normal-1",
        "normal-2",
        "urgent-0",
        "broken-0",
    }


async def test_async_twin(run_operator: Run, cluster: Cluster, namespace: str) -> None:
    run_operator()
    async with AsyncClient(namespace, kubeconfig=str(cluster.kubeconfig)) as c:
        handle = await c.enqueue("work", {"_fake": {"message": {"ok": 1}}}, delay="1s")
        assert await handle.wait(timeout=60) == {"ok": 1}
        assert (await c.get(handle.name)).spec["delay"] == "1s"
        assert [j.name for j in await c.list()] == [handle.name]
        with pytest.raises(NotFound):
            await c.cancel("missing")


def test_forbidden_is_typed(cluster: Cluster, namespace: str, crds: object, tmp_path: Path) -> None:
    """A service account without RBAC grants gets Forbidden, naming the verb and resource."""
    kc = [kubectl(), "--kubeconfig", str(cluster.kubeconfig)]
    subprocess.run(
        [*kc, "create", "sa", "nobody", "-n", namespace], check=True, capture_output=True
    )
    token = subprocess.run(
        [*kc, "create", "token", "nobody", "-n", namespace],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    doc = yaml.safe_load(cluster.kubeconfig.read_text())
    doc["users"] = [{"name": "nobody", "user": {"token": token}}]
    for ctx in doc["contexts"]:
        ctx["context"]["user"] = "nobody"
    limited = tmp_path / "nobody.kubeconfig"
    limited.write_text(yaml.safe_dump(doc))

    with Client(namespace, kubeconfig=str(limited)) as c:
        with pytest.raises(Forbidden, match="forbidden"):
            c.enqueue("work", {})
        with pytest.raises(Forbidden):
            c.list()
