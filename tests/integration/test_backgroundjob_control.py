"""Timing and control of BackgroundJobs: runAt, delay, cancel, manual retry, TTL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.support.bgjobs import Jobs, bgjob, registry, status
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually, time_passes

Run = Callable[..., OperatorProcess]


pytestmark = pytest.mark.usefixtures("fake_pods")


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_delay_and_run_at_are_honoured(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    run_at = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
    delayed = await jobs.create(bgjob("delayed", delay="3s"))
    await jobs.create(bgjob("at", runAt=run_at.isoformat().replace("+00:00", "Z")))

    await eventually(
        lambda: _reason(jobs, "at", "WaitingForRunAt"), within=10, what="WaitingForRunAt"
    )
    d = await jobs.wait("delayed", "Completed")
    a = await jobs.wait("at", "Completed")

    created = ts(delayed["metadata"]["creationTimestamp"])
    assert ts(status(d)["startedAt"]) >= created + timedelta(seconds=3)
    assert ts(status(a)["startedAt"]) >= run_at


async def test_cancel_while_queued(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(bgjob("far", delay="1h"))
    await eventually(
        lambda: _reason(jobs, "far", "WaitingForRunAt"), within=20, what="WaitingForRunAt"
    )

    await jobs.patch("far", {"spec": {"cancel": True}})

    obj = await jobs.wait("far", "Cancelled")
    assert status(obj)["reason"] == "Cancelled"
    assert await jobs.batch_jobs("far") == []


async def test_cancel_while_retrying(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(
        bgjob("retrying", fake={"exit-code": "1"}, retryPolicy={"initialDelay": "1h"})
    )
    await jobs.wait("retrying", "Retrying")

    await jobs.patch("retrying", {"spec": {"cancel": True}})

    obj = await jobs.wait("retrying", "Cancelled")
    assert len(status(obj)["attempts"]) == 1
    assert len(await jobs.batch_jobs("retrying")) == 1


async def test_cancel_while_running_stops_the_attempt(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(bgjob("long", fake={"hang": "true"}))
    await jobs.wait("long", "Running")

    await jobs.patch("long", {"spec": {"cancel": True}})

    await jobs.wait("long", "Cancelled")

    async def attempt_gone() -> bool:
        return await jobs.batch_jobs("long") == []

    await eventually(attempt_gone, within=30, what="the attempt's Job to be deleted")


async def test_retry_annotation_brings_a_failed_job_back(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(bgjob("again", fake={"exit-code": "3,0", "message": {"n": 2}}))
    failed = await jobs.wait("again", "Failed")
    assert status(failed)["reason"] == "PermanentFailure"

    await jobs.patch("again", {"metadata": {"annotations": {"bgjobs.io/retry": "1"}}})

    obj = await jobs.wait("again", "Completed")
    st = status(obj)
    assert st["result"] == {"n": 2}
    assert st["retryCount"] == 0
    assert [a["attempt"] for a in st["attempts"]] == [1, 2]
    assert [a["reason"] for a in st["attempts"]] == ["PermanentFailure", "Completed"]
    assert {j.metadata.name for j in await jobs.batch_jobs("again")} == {"again-a1", "again-a2"}


async def test_retry_annotation_on_a_running_job_is_ignored(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(bgjob("busy", fake={"run-for": "3s"}))
    await jobs.wait("busy", "Running")

    await jobs.patch("busy", {"metadata": {"annotations": {"bgjobs.io/retry": "x"}}})

    async def ignored() -> bool:
        return any(e.reason == "RetryIgnored" for e in await jobs.events("busy"))

    await eventually(ignored, within=20, what="a RetryIgnored event")
    obj = await jobs.wait("busy", "Completed")
    assert len(status(obj)["attempts"]) == 1


async def test_ttl_after_finished_deletes_the_job(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(bgjob("short-lived", ttlAfterFinished="2s"))
    done = await jobs.wait("short-lived", "Completed")
    completed = ts(status(done)["completedAt"])

    async def deleted() -> bool:
        return await jobs.get("short-lived") is None

    await eventually(deleted, within=30, what="the finished job to be deleted")
    assert datetime.now(UTC) >= completed + timedelta(seconds=2)


async def test_finished_jobs_are_kept_as_long_as_the_job_its_type_or_the_registry_says(
    run_operator: Run, jobs: Jobs
) -> None:
    handlers = {"work": {}, "keep": {"ttlAfterFinished": "0s"}}
    run_operator(registry(handlers, ttlAfterFinished="3s"))
    await jobs.create(bgjob("by-registry"))  # 3s, the registry's default
    await jobs.create(bgjob("by-job", "keep", ttlAfterFinished="2s"))
    await jobs.create(bgjob("kept-by-type", "keep"))
    await jobs.create(bgjob("kept-by-job", ttlAfterFinished="0s"))
    done = [await jobs.wait(name, "Completed") for name in ("kept-by-type", "kept-by-job")]

    async def gone() -> bool:
        return all([await jobs.get(name) is None for name in ("by-registry", "by-job")])

    await eventually(gone, within=30, what="by-registry and by-job deleted")
    # The kept ones would have gone by now too: 3 s after they finished, and a resync's worth.
    await time_passes(max(ts(status(o)["completedAt"]) for o in done) + timedelta(seconds=8))
    assert await jobs.get("kept-by-type") is not None
    assert await jobs.get("kept-by-job") is not None


async def _reason(jobs: Jobs, name: str, reason: str) -> bool:
    obj = await jobs.get(name)
    return status(obj or {}).get("reason") == reason
