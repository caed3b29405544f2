"""Real failures of real pods: a permanent exit, a retried error, an OOM kill, a timeout."""

from __future__ import annotations

import itertools
import json
import threading
from datetime import datetime
from typing import Any

from kubernetes_asyncio.client.api_client import ApiClient

from tests.e2e.conftest import TINY_MEMORY, Peers, Release
from tests.support.bgjobs import Jobs, bgjob, status
from tests.support.http_peer import Seen
from tests.support.pods import watching_pods
from tests.support.poll import eventually

# The attempt's timeout: room for the pod to start and Python to import on a
# busy 2-core machine before the delivery stalls.
TIMEOUT = "20s"
HOLD_AT_MOST = 120.0


class Script:
    """Answers in turn from a list of (status, body, seconds to stall); the last one repeats."""

    def __init__(self, *answers: tuple[int, bytes, float]) -> None:
        self.answers = list(answers)
        self.release = threading.Event()  # set to end every stall at once

    def __call__(self, seen: Seen) -> tuple[int, bytes]:
        code, body, stall = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if stall:
            self.release.wait(stall)
        return code, body


async def test_exit_3_is_a_permanent_failure_with_the_handlers_message(
    release: Release, jobs: Jobs
) -> None:
    payload = {"marketId": 404, "outcome": "NO", "username": "creator"}
    await jobs.create(bgjob("resolve-missing", "market_resolution", payload=payload))
    done = await jobs.wait("resolve-missing", "Failed", "Completed", within=120)

    st = status(done)
    assert (st["phase"], st["reason"]) == ("Failed", "PermanentFailure"), st
    assert "resolve answered 404: MARKET_NOT_FOUND" in st["error"], st
    (attempt,) = st["attempts"]  # never retried
    assert attempt["exitCode"] == 3
    assert len(await jobs.batch_jobs("resolve-missing")) == 1


async def test_a_failure_is_retried_with_backoff_then_succeeds(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    script = Script((503, b"down", 0), (503, b"down", 0), (200, b"", 0))
    with peers.receiver(script) as receiver:
        retry = {"maxRetries": 3, "initialDelay": "2s", "backoffFactor": 2.0}
        payload = {"url": receiver.url, "text": "flaky"}
        await jobs.create(bgjob("flaky", "notifications", payload=payload, retryPolicy=retry))
        done = await jobs.wait("flaky", "Completed", "Failed", within=180)

    st = status(done)
    assert st["phase"] == "Completed", st
    assert st["retryCount"] == 2
    assert [a["exitCode"] for a in st["attempts"]] == [1, 1, 0]
    assert "503" in st["attempts"][0]["message"]
    # Backoff 2s then 4s (timestamps have whole seconds: allow one off).
    gaps = [
        (
            datetime.fromisoformat(nxt["startedAt"]) - datetime.fromisoformat(prev["finishedAt"])
        ).total_seconds()
        for prev, nxt in itertools.pairwise(st["attempts"])
    ]
    assert gaps[0] >= 1, gaps
    assert gaps[1] >= 3, gaps
    assert len(receiver.requests) == 3


async def test_a_handler_over_its_memory_limit_is_oomkilled_and_retried(
    release: Release, jobs: Jobs
) -> None:
    retry = {"maxRetries": 1, "initialDelay": "1s"}
    await jobs.create(bgjob("greedy", TINY_MEMORY, payload={"text": "x"}, retryPolicy=retry))
    done = await jobs.wait("greedy", "Failed", "Completed", within=180)

    st = status(done)
    assert st["phase"] == "Failed", st
    assert [a["reason"] for a in st["attempts"]] == ["OOMKilled", "OOMKilled"], st["attempts"]
    assert [a["exitCode"] for a in st["attempts"]] == [137, 137]
    assert "OOMKilled" in st["error"]


class StallFirstAttempt:
    """Holds the first attempt's delivery past its timeout, answers the others."""

    def __init__(self) -> None:
        self.attempts: list[int] = []
        self.release = threading.Event()  # set to end the stall at once

    def __call__(self, seen: Seen) -> tuple[int, bytes]:
        attempt = json.loads(seen.body)["job"]["attempt"]
        self.attempts.append(attempt)
        if attempt == 1:
            self.release.wait(HOLD_AT_MOST)
        return 200, b""


async def test_a_handler_past_its_timeout_gets_sigterm_and_is_retried(
    release: Release, jobs: Jobs, peers: Peers, api: ApiClient
) -> None:
    stall = StallFirstAttempt()
    async with watching_pods(api, jobs.namespace) as pods:
        with peers.receiver(stall) as receiver:
            retry = {"maxRetries": 2, "initialDelay": "1s"}
            payload = {"url": receiver.url, "text": "slow"}
            await jobs.create(
                bgjob("slow", "notifications", payload=payload, timeout=TIMEOUT, retryPolicy=retry)
            )
            try:
                done = await jobs.wait("slow", "Completed", "Failed", within=180)
            finally:
                stall.release.set()
        st = status(done)
        first_job = st["attempts"][0]["jobName"]

        async def first_pod_ended() -> dict[str, Any] | None:
            ended = [pods.terminated.get(name) for name in pods.of_job.get(first_job, ())]
            return next((e for e in ended if e), None)

        ended = await eventually(first_pod_ended, within=30, what=f"the pod of {first_job} to end")

    assert stall.attempts == [1, 2], "the first attempt reached the peer, then the retry"
    assert st["phase"] == "Completed", st
    assert [a["reason"] for a in st["attempts"]] == ["DeadlineExceeded", "Completed"]
    # SIGTERM reached the SDK, which ended the attempt itself (143) with a
    # clean message, long before the kubelet's SIGKILL (137) 30 s later.
    assert ended["exitCode"] == 143, ended
    assert "deadline exceeded" in ended["message"], ended
