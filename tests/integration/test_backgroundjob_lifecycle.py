"""BackgroundJob lifecycle through the real operator, on the local cluster and Redis."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from datetime import datetime

import pytest

from tests.support.bgjobs import Jobs, bgjob, registry, status, wait_events
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

Run = Callable[..., OperatorProcess]


pytestmark = pytest.mark.usefixtures("fake_pods")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as resp:
        return str(resp.read().decode())


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_happy_path(run_operator: Run, jobs: Jobs) -> None:
    op = run_operator(extra_args=["--transition-events"])
    result = {"status": "sent", "messageId": "m-42"}
    await jobs.create(bgjob("welcome", fake={"message": result}, payload={"to": "a@b.c"}))

    obj = await jobs.wait("welcome", "Completed", "Failed")

    st = status(obj)
    assert st["phase"] == "Completed"
    assert st["result"] == result
    assert st["retryCount"] == 0
    assert [a["attempt"] for a in st["attempts"]] == [1]
    assert st["attempts"][0]["exitCode"] == 0
    assert st["jobName"] == "welcome-a1"
    assert st["priority"] == "Normal"
    assert [j.metadata.name for j in await jobs.batch_jobs("welcome")] == ["welcome-a1"]
    # (Queued is written, with its Event, only when no slot is free before the
    # first reconcile.)
    await wait_events(
        jobs, "welcome", lambda es: {"Dispatched", "Completed"} <= {e.reason for e in es}
    )
    body = await asyncio.to_thread(scrape, op.metrics_port)
    assert 'bgjobs_jobs_completed_total{type="work"} 1.0' in body
    assert 'bgjobs_jobs_dispatched_total{type="work"} 1.0' in body


async def test_fails_twice_then_succeeds_with_backoff(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    policy = {"maxRetries": 3, "initialDelay": "2s", "backoffFactor": 2.0, "maxDelay": "1m"}
    await jobs.create(
        bgjob("flaky", fake={"exit-code": "1,1,0", "message": {"ok": True}}, retryPolicy=policy)
    )

    retrying = await jobs.wait("flaky", "Retrying")
    assert status(retrying)["nextAttemptAt"]
    obj = await jobs.wait("flaky", "Completed", "Failed")

    st = status(obj)
    assert st["phase"] == "Completed"
    assert st["retryCount"] == 2
    attempts = st["attempts"]
    assert [a["exitCode"] for a in attempts] == [1, 1, 0]
    # Gap between one attempt's end and the next one's start is the backoff:
    # 2s, then 4s. finishedAt comes from the pod (whole seconds): allow slack.
    for before, after, delay in ((attempts[0], attempts[1], 2), (attempts[1], attempts[2], 4)):
        gap = (ts(after["startedAt"]) - ts(before["finishedAt"])).total_seconds()
        assert delay - 1.0 <= gap <= delay + 2.5, (delay, gap)
    assert len(await jobs.batch_jobs("flaky")) == 3


async def test_exhausted_retries_fail_with_backoff_limit(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    policy = {"maxRetries": 1, "initialDelay": "100ms"}
    await jobs.create(
        bgjob("doomed", fake={"exit-code": "1", "message": "boom"}, retryPolicy=policy)
    )

    obj = await jobs.wait("doomed", "Failed")

    st = status(obj)
    assert st["reason"] == "BackoffLimitExceeded"
    assert st["retryCount"] == 1
    assert len(st["attempts"]) == 2
    assert "exit code 1" in st["error"]
    assert "boom" in st["error"]


async def test_exit_3_is_permanent_and_not_retried(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(
        bgjob(
            "perm",
            fake={"exit-code": "3", "message": "unknown market"},
            retryPolicy={"maxRetries": 5, "initialDelay": "100ms"},
        )
    )

    obj = await jobs.wait("perm", "Failed")

    st = status(obj)
    assert st["reason"] == "PermanentFailure"
    assert st["retryCount"] == 0
    assert len(st["attempts"]) == 1
    assert "unknown market" in st["error"]
    assert len(await jobs.batch_jobs("perm")) == 1


async def test_deadline_is_retried_by_policy(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(
        bgjob(
            "slow",
            fake={"hang": "true"},
            timeout="1s",
            retryPolicy={"maxRetries": 1, "initialDelay": "100ms"},
        )
    )

    obj = await jobs.wait("slow", "Failed")

    st = status(obj)
    assert st["reason"] == "BackoffLimitExceeded"
    assert [a["reason"] for a in st["attempts"]] == ["DeadlineExceeded", "DeadlineExceeded"]
    batch = await jobs.batch_jobs("slow")
    assert sorted(j.spec.active_deadline_seconds for j in batch) == [1, 1]


async def test_oom_kill_is_retryable(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(
        bgjob("oom", fake={"exit-code": "137,0"}, retryPolicy={"initialDelay": "100ms"})
    )

    obj = await jobs.wait("oom", "Completed", "Failed")

    st = status(obj)
    assert st["phase"] == "Completed"
    assert [a["reason"] for a in st["attempts"]] == ["OOMKilled", "Completed"]


async def test_unknown_type_waits_until_registered(run_operator: Run, jobs: Jobs) -> None:
    op = run_operator(registry({"work": {}}))
    await jobs.create(bgjob("later", "reports"))

    async def waiting() -> bool:
        obj = await jobs.get("later")
        return status(obj or {}).get("reason") == "UnknownType"

    await eventually(waiting, within=30, what="reason UnknownType")
    await wait_events(
        jobs, "later", lambda es: any(e.reason == "UnknownType" and e.type == "Warning" for e in es)
    )
    assert await jobs.batch_jobs("later") == []

    op.write_registry(registry({"work": {}, "reports": {}}))

    obj = await jobs.wait("later", "Completed")
    assert status(obj)["phase"] == "Completed"


async def test_attempt_job_follows_the_contract(run_operator: Run, jobs: Jobs) -> None:
    handler = {
        "timeout": "45s",
        "env": [{"name": "SMTP_HOST", "value": "mail"}],
        "serviceAccountName": "default",
        "resources": {"limits": {"memory": "64Mi"}},
    }
    run_operator(registry({"work": handler}))
    created = await jobs.create(bgjob("contract", fake={"run-for": "2s"}, payload={"k": "v"}))
    uid = created["metadata"]["uid"]
    await jobs.wait("contract", "Running")

    (job,) = await jobs.batch_jobs("contract")
    assert job.metadata.name == "contract-a1"
    assert job.spec.backoff_limit == 0
    assert job.spec.active_deadline_seconds == 45
    owner = job.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "BackgroundJob",
        "contract",
        uid,
        True,
    )
    rules = job.spec.pod_failure_policy.rules
    assert rules[0].action == "Ignore"
    assert rules[1].action == "FailJob"
    assert rules[1].on_exit_codes.values == [3]
    container = job.spec.template.spec.containers[0]
    assert container.termination_message_policy == "FallbackToLogsOnError"
    assert container.image == "bgjobs.local/work:test"
    env = {e.name: e.value for e in container.env}
    assert json.loads(env["BGJOB_PAYLOAD"])["k"] == "v"
    assert env["BGJOB_ATTEMPT"] == "1"
    assert env["BGJOB_UID"] == env["BGJOB_IDEMPOTENCY_KEY"] == uid
    assert (env["BGJOB_NAME"], env["BGJOB_TYPE"]) == ("contract", "work")
    assert env["BGJOB_NAMESPACE"] == jobs.namespace
    assert env["SMTP_HOST"] == "mail"
    assert container.resources.limits == {"memory": "64Mi"}
