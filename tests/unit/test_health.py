"""Supervised loops restart on failure and are counted; liveness fails only if one keeps failing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from bgjobs.k8s import KubeError
from bgjobs.runtime.health import Health, InjectedFault, supervise, transient


def errors(loop: str) -> float:
    return REGISTRY.get_sample_value("bgjobs_internal_errors_total", {"loop": loop}) or 0.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def run_until(predicate: Callable[[], bool], task: asyncio.Task[None]) -> None:
    for _ in range(10_000):
        if predicate():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return
        await asyncio.sleep(0)
    task.cancel()
    raise AssertionError("condition never held")


async def test_a_failing_loop_is_logged_counted_and_restarted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    health = Health()
    passes: list[int] = []

    async def loop(ok: Callable[[], None]) -> None:
        passes.append(len(passes))
        if len(passes) <= 2:
            raise KeyError("boom")  # a bug, not an expected fault
        ok()
        await asyncio.Event().wait()

    before = errors("t-restart")
    task = asyncio.create_task(
        supervise("t-restart", lambda: loop(lambda: health.ok("t-restart")), health, first_delay=0)
    )
    await run_until(lambda: len(passes) == 3, task)

    assert errors("t-restart") - before == 2
    assert "loop t-restart failed; restarting it" in caplog.text
    assert "KeyError: 'boom'" in caplog.text  # the traceback is logged
    assert health.live()[1]["failing"] == {}, "a loop that recovered is healthy"
    assert health.loops["t-restart"].failures == 0


async def test_a_loop_that_returns_is_restarted_too() -> None:
    health = Health()
    passes: list[int] = []

    async def loop() -> None:
        passes.append(1)

    before = errors("t-return")
    task = asyncio.create_task(supervise("t-return", loop, health, first_delay=0))
    await run_until(lambda: len(passes) >= 3, task)
    assert errors("t-return") - before >= 2


async def test_liveness_fails_only_after_failing_for_the_whole_grace() -> None:
    clock = Clock()
    health = Health(unhealthy_after=60, clock=clock)
    health.failed("dispatcher", RuntimeError("first"))
    clock.now += 59
    health.failed("dispatcher", RuntimeError("again"))
    live, detail = health.live()
    assert live
    assert detail["failing"] == {
        "dispatcher": {"failures": 2, "seconds": 59.0, "error": "RuntimeError: again"}
    }

    clock.now += 1
    live, detail = health.live()
    assert not live
    assert detail["dead"] == ["dispatcher"]

    health.ok("dispatcher")  # one good pass is enough
    assert health.live() == (True, {"live": True, "failing": {}, "dead": []})


def test_readiness_names_what_it_waits_for() -> None:
    health = Health()
    health.set("registry", False)
    health.set("redis", True)
    assert health.ready() == (False, {"ready": False, "waiting_for": ["registry"]})
    health.set("registry", True)
    assert health.ready() == (True, {"ready": True, "waiting_for": []})


def test_the_fault_hook_fires_the_given_number_of_times() -> None:
    health = Health(faults={"registry": 2, "dispatcher": -1})
    for _ in range(2):
        with pytest.raises(InjectedFault, match="registry"):
            health.check_fault("registry")
    health.check_fault("registry")  # spent
    for _ in range(5):
        with pytest.raises(InjectedFault):
            health.check_fault("dispatcher")  # for ever
    health.check_fault("workers")  # never armed


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (KubeError("GET /version: connection refused", 0), True),
        (KubeError("list: unavailable", 503), True),
        (KubeError("list: too many requests", 429), True),
        (KubeError("list: forbidden", 403), False),  # a refusal: waiting does not cure it
        (KubeError("no usable kubeconfig"), False),
        (RedisConnectionError("gone"), True),
        (ResponseError("ERR Error running script"), False),  # a bug in a script
        (TimeoutError(), True),
        (KeyError("boom"), False),
    ],
)
def test_only_outages_count_as_transient(exc: BaseException, expected: bool) -> None:
    assert transient(exc) is expected


def test_a_transient_failure_is_counted_but_never_fails_liveness() -> None:
    clock = Clock()
    health = Health(unhealthy_after=1, clock=clock)
    before = errors("t-outage")
    health.failed("t-outage", KubeError("GET /version: reset", 0))
    clock.now += 3600
    assert errors("t-outage") - before == 1
    assert health.live()[0]
