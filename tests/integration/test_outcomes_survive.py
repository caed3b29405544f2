"""An attempt's outcome is never lost: its Job waits (a finalizer) until the
operator has recorded it, even when the Job is deleted while the operator is
down, and exit code 3 stays permanent when the pod is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes_asyncio import client

from bgjobs.vocabulary import OUTCOME_FINALIZER
from tests.support.bgjobs import Jobs, bgjob, status
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

Run = Callable[..., OperatorProcess]
pytestmark = pytest.mark.usefixtures("fake_pods")


async def finished(jobs: Jobs, job_name: str, condition: str) -> bool:
    job = await jobs.batch.read_namespaced_job(job_name, jobs.namespace)
    return any(c.type == condition and c.status == "True" for c in job.status.conditions or [])


async def exists(jobs: Jobs, job_name: str) -> bool:
    return any(j.metadata.name == job_name for j in await jobs.batch_jobs())


async def test_a_success_whose_job_was_deleted_while_the_operator_was_down_is_kept(
    run_operator: Run, jobs: Jobs
) -> None:
    op = run_operator()
    result = {"status": "resolved", "payouts": 12}
    await jobs.create(bgjob("resolve", fake={"run-for": "10s", "message": result}))
    await jobs.wait("resolve", "Running")
    op.kill()
    assert status(await jobs.get("resolve") or {})["phase"] == "Running"  # not yet recorded
    await eventually(lambda: finished(jobs, "resolve-a1", "Complete"), within=60, what="success")

    await jobs.batch.delete_namespaced_job(
        "resolve-a1", jobs.namespace, propagation_policy="Background"
    )
    held = await jobs.batch.read_namespaced_job("resolve-a1", jobs.namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.finalizers == [OUTCOME_FINALIZER]

    op.start()
    done = await jobs.wait("resolve", "Completed", "Failed", "Retrying", within=60)
    assert status(done)["phase"] == "Completed"
    assert status(done)["result"] == result
    assert len(status(done)["attempts"]) == 1

    async def released() -> bool:
        return not await exists(jobs, "resolve-a1")

    await eventually(released, within=30, what="the Job to go once the outcome is recorded")
    assert await jobs.batch_jobs() == []  # no second attempt


async def test_exit_code_3_stays_permanent_when_its_pod_is_gone(
    run_operator: Run, jobs: Jobs
) -> None:
    op = run_operator()
    await jobs.create(bgjob("bad-market", fake={"run-for": "10s", "exit-code": "3"}))
    await jobs.wait("bad-market", "Running")
    op.kill()
    assert status(await jobs.get("bad-market") or {})["phase"] == "Running"  # not yet recorded
    await eventually(lambda: finished(jobs, "bad-market-a1", "Failed"), within=60, what="exit 3")
    core = client.CoreV1Api(jobs.api)
    selector = "batch.kubernetes.io/job-name=bad-market-a1"
    for pod in (await core.list_namespaced_pod(jobs.namespace, label_selector=selector)).items:
        await core.delete_namespaced_pod(pod.metadata.name, jobs.namespace, grace_period_seconds=0)

    async def pods_gone() -> bool:
        got = await core.list_namespaced_pod(jobs.namespace, label_selector=selector)
        return not got.items

    await eventually(pods_gone, within=30, what="the pod to be gone")

    op.start()
    done: dict[str, Any] = await jobs.wait("bad-market", "Failed", "Retrying", within=60)
    st = status(done)
    assert (st["phase"], st["reason"]) == ("Failed", "PermanentFailure")
    assert len(st["attempts"]) == 1
    assert len(await jobs.batch_jobs("bad-market")) == 1  # no retry
