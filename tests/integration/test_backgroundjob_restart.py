"""Restart safety: the objects are the truth, Redis an index rebuilt from them.

The operator is SIGKILLed while jobs are queued, running and retrying, and
started again (also with Redis emptied meanwhile, and with Redis down for a
while): every job ends in its right phase with exactly one batch Job per
attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.support.bgjobs import Jobs, bgjob, registry, status
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
from tests.support.redis_server import RedisServer

Run = Callable[..., OperatorProcess]


pytestmark = pytest.mark.usefixtures("fake_pods")


# name → (fake outcome, retry policy, expected phase, expected attempts)
MIX = {
    "run-a": ({"run-for": "3s"}, None, "Completed", 1),
    "run-b": ({"run-for": "3s"}, None, "Completed", 1),
    "retry": ({"exit-code": "1,0"}, {"initialDelay": "3s"}, "Completed", 2),
    "perm": ({"exit-code": "3", "run-for": "2s"}, None, "Failed", 1),
    **{f"queued-{i}": ({"run-for": "200ms"}, None, "Completed", 1) for i in range(6)},
}


async def create_mix(jobs: Jobs) -> None:
    for name, (fake, policy, _, _) in MIX.items():
        spec: dict[str, Any] = {"retryPolicy": policy} if policy else {}
        await jobs.create(bgjob(name, fake=fake, **spec))


async def wait_mixed_state(jobs: Jobs) -> None:
    """Until something runs, something retries and something waits."""

    async def probe() -> set[str | None] | None:
        phases = {status(o).get("phase") for o in await jobs.list()}
        return phases if {"Running", "Retrying", "Pending"} <= phases else None

    await eventually(probe, within=60, what="jobs running, retrying and queued at once")


async def check_outcomes(jobs: Jobs) -> None:
    async def all_done() -> list[dict[str, Any]] | None:
        objs = await jobs.list()
        finished = [o for o in objs if status(o).get("phase") in ("Completed", "Failed")]
        return objs if len(finished) == len(MIX) else None

    objs = await eventually(all_done, within=120, interval=0.5, what="every job to finish")
    batch = await jobs.batch_jobs()
    for obj in objs:
        name = obj["metadata"]["name"]
        _, _, phase, attempts = MIX[name]
        st = status(obj)
        assert st["phase"] == phase, name
        assert [a["attempt"] for a in st["attempts"]] == list(range(1, attempts + 1)), name
        mine = sorted(j.metadata.name for j in batch if j.metadata.labels["bgjobs.io/job"] == name)
        assert mine == [f"{name}-a{n}" for n in range(1, attempts + 1)], name


@pytest.mark.timeout(300)
async def test_sigkill_and_restart_loses_and_duplicates_nothing(
    run_operator: Run, jobs: Jobs
) -> None:
    op = run_operator(registry({"work": {}}, maxConcurrentJobs=2))
    await create_mix(jobs)
    await wait_mixed_state(jobs)

    op.kill()
    op.start()

    await check_outcomes(jobs)


@pytest.mark.timeout(300)
async def test_restart_with_redis_flushed_while_down(
    run_operator: Run, jobs: Jobs, redis: aioredis.Redis
) -> None:
    op = run_operator(registry({"work": {}}, maxConcurrentJobs=2))
    await create_mix(jobs)
    await wait_mixed_state(jobs)

    op.kill()
    await redis.flushall()
    op.start()

    await check_outcomes(jobs)


@pytest.mark.timeout(300)
async def test_redis_outage_is_survived(run_operator: Run, jobs: Jobs) -> None:
    server = RedisServer().start()
    try:
        op = run_operator(registry({"work": {}}, maxConcurrentJobs=2), redis_url=server.url)
        await create_mix(jobs)
        await wait_mixed_state(jobs)
        port = server.port

        server.stop()  # Redis gone, its data with it; the operator keeps going
        await eventually(
            lambda: _logged(op, "connecting to 127.0.0.1"),
            within=60,
            what="the outage to be noticed",
        )
        server.start(port=port)

        await check_outcomes(jobs)
        assert "Redis lost its data" in op.log()
    finally:
        server.stop()


async def _logged(op: OperatorProcess, text: str) -> bool:
    return text in op.log()
