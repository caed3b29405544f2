"""The local cluster runs batch/v1 Jobs and ends their pods as the test asks.

These are the guarantees the operator's tests build on: a pod's exit code and
termination message reach ``containerStatuses``; failures, OOM kills, deadlines
and deleted pods fail the Job the way a real kubelet would make them.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.cluster import Cluster, kubectl
from tests.support.fake_pods import batch_job, fake_outcome, payload_env
from tests.support.poll import eventually

pytestmark = pytest.mark.usefixtures("fake_pods")


async def run_job(
    api: ApiClient, namespace: str, job: dict[str, Any], *, want_pod: bool = True
) -> tuple[str, Any]:
    """Create ``job``, wait until it is Complete or Failed; return (condition, pod)."""
    batch = client.BatchV1Api(api)
    core = client.CoreV1Api(api)
    name = job["metadata"]["name"]
    await batch.create_namespaced_job(namespace, job)  # type: ignore[arg-type]  # a dict is sent as is

    async def finished() -> str | None:
        got = await batch.read_namespaced_job_status(name, namespace)
        for cond in got.status.conditions or []:
            if cond.type in ("Complete", "Failed") and cond.status == "True":
                return f"{cond.type}/{cond.reason or ''}"
        return None

    condition = await eventually(finished, within=60, what=f"Job {name} to finish")
    if not want_pod:
        return condition, None

    async def terminated_pod() -> Any:
        pods = await core.list_namespaced_pod(namespace, label_selector=f"job-name={name}")
        for pod in pods.items:
            for status in pod.status.container_statuses or []:
                if status.state and status.state.terminated:
                    return pod
        return None

    pod = await eventually(terminated_pod, within=30, what=f"a terminated pod of Job {name}")
    return condition, pod


def terminated(pod: Any) -> Any:
    return pod.status.container_statuses[0].state.terminated


async def test_exit_code_and_message_reach_container_status(api: ApiClient, namespace: str) -> None:
    job = batch_job("permanent", pod_annotations=fake_outcome(exit_code=3, message='{"x": 1}'))

    condition, pod = await run_job(api, namespace, job)

    assert condition.startswith("Failed/")
    state = terminated(pod)
    assert state.exit_code == 3
    assert json.loads(state.message) == {"x": 1}
    assert pod.status.phase == "Failed"


async def test_success_with_a_result_message(api: ApiClient, namespace: str) -> None:
    result = {"status": "sent", "messageId": "m-1"}
    job = batch_job("ok", pod_annotations=fake_outcome(exit_code=0, message=json.dumps(result)))

    condition, pod = await run_job(api, namespace, job)

    assert condition.startswith("Complete")
    assert terminated(pod).exit_code == 0
    assert json.loads(terminated(pod).message) == result
    assert pod.status.phase == "Succeeded"


async def test_oom_like_exit_137_fails(api: ApiClient, namespace: str) -> None:
    condition, pod = await run_job(
        api, namespace, batch_job("oom", pod_annotations=fake_outcome(exit_code=137))
    )

    assert condition.startswith("Failed/")
    assert terminated(pod).exit_code == 137
    assert terminated(pod).reason == "OOMKilled"


async def test_pod_with_no_instruction_succeeds_with_empty_message(
    api: ApiClient, namespace: str
) -> None:
    condition, pod = await run_job(api, namespace, batch_job("plain"))

    assert condition.startswith("Complete")
    assert terminated(pod).exit_code == 0
    assert not terminated(pod).message


async def test_instruction_from_payload_picks_exit_code_by_attempt(
    api: ApiClient, namespace: str
) -> None:
    fake = {"exit-code": "1,1,0", "message": {"done": True}}
    first = batch_job("attempt-1", env=payload_env({"to": "a@b.c", "_fake": fake}, attempt=1))
    third = batch_job("attempt-3", env=payload_env({"to": "a@b.c", "_fake": fake}, attempt=3))

    cond1, pod1 = await run_job(api, namespace, first)
    cond3, pod3 = await run_job(api, namespace, third)

    assert cond1.startswith("Failed/")
    assert terminated(pod1).exit_code == 1
    assert cond3.startswith("Complete")
    assert json.loads(terminated(pod3).message) == {"done": True}


async def test_hanging_pod_fails_by_active_deadline(api: ApiClient, namespace: str) -> None:
    job = batch_job("slow", pod_annotations=fake_outcome(hang=True), active_deadline_seconds=2)

    condition, _ = await run_job(api, namespace, job, want_pod=False)

    assert condition == "Failed/DeadlineExceeded"


async def test_deleted_running_pod_fails_the_job(api: ApiClient, namespace: str) -> None:
    batch = client.BatchV1Api(api)
    core = client.CoreV1Api(api)
    await batch.create_namespaced_job(
        namespace,
        batch_job("deleted", pod_annotations=fake_outcome(hang=True)),  # type: ignore[arg-type]  # a dict is sent as is
    )

    async def running_pod() -> str | None:
        pods = await core.list_namespaced_pod(namespace, label_selector="job-name=deleted")
        running = [p for p in pods.items if p.status.phase == "Running"]
        return running[0].metadata.name if running else None

    pod_name = await eventually(running_pod, within=30, what="the pod to run")
    await core.delete_namespaced_pod(pod_name, namespace)

    async def failed() -> str | None:
        got = await batch.read_namespaced_job_status("deleted", namespace)
        for cond in got.status.conditions or []:
            if cond.type == "Failed" and cond.status == "True":
                return cond.reason or "Failed"
        return None

    assert await eventually(failed, within=60, what="the Job to fail") == "BackoffLimitExceeded"


def test_server_reports_kubernetes_1_34(cluster: Cluster) -> None:
    out = subprocess.run(
        [kubectl(), "--kubeconfig", str(cluster.kubeconfig), "version", "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    server = json.loads(out.stdout)["serverVersion"]
    assert server["gitVersion"].startswith("v1.34.")
    assert (server["major"], server["minor"]) == ("1", "34")
