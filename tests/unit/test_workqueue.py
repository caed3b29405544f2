"""The per-key work queue: deduplicated, serial per key, urgent lane, retries."""

import asyncio
from typing import Any

from bgjobs.runtime.health import Health
from bgjobs.runtime.workqueue import FETCH, Key, Requeue, WorkQueue
from tests.support.poll import eventually


async def test_events_for_a_busy_key_collapse_into_one_more_run() -> None:
    calls: list[tuple[Key, Any]] = []
    gate = asyncio.Event()
    running = 0
    overlap = False

    async def handler(key: Key, body: Any, seen_at: float) -> None:
        nonlocal running, overlap
        running += 1
        overlap = overlap or running > 1
        calls.append((key, body))
        if len(calls) == 1:
            await gate.wait()
        running -= 1

    q = WorkQueue(handler, workers=4)
    q.start(Health(faults={}))
    key = ("ns", "a")
    q.add(key, {"metadata": {"resourceVersion": "1"}})
    await eventually(lambda: _true(len(calls) == 1), within=5)
    for rv in ("2", "3", "4"):
        q.add(key, {"metadata": {"resourceVersion": rv}})
    gate.set()
    await eventually(lambda: _true(len(calls) == 2), within=5)
    await q.stop()

    assert not overlap
    assert calls[1][1]["metadata"]["resourceVersion"] == "4"  # the newest body only


async def test_urgent_keys_are_served_first() -> None:
    order: list[str] = []
    gate = asyncio.Event()
    busy = asyncio.Event()

    async def handler(key: Key, body: Any, seen_at: float) -> None:
        if key[1] == "blocker":
            busy.set()
            await gate.wait()
        order.append(key[1])

    q = WorkQueue(handler, workers=1)
    q.start(Health(faults={}))
    q.add(("ns", "blocker"))
    await busy.wait()
    for name in ("n1", "n2", "n3"):
        q.add(("ns", name))
    q.add(("ns", "n3"), urgent=True)
    q.add(("ns", "u1"), urgent=True)
    gate.set()
    await eventually(lambda: _true(len(order) == 5), within=5)
    await q.stop()

    assert order == ["blocker", "n3", "u1", "n1", "n2"]


async def test_failures_are_retried_with_a_fresh_read() -> None:
    bodies: list[Any] = []

    async def handler(key: Key, body: Any, seen_at: float) -> None:
        bodies.append(body)
        if len(bodies) == 1:
            raise Requeue(0, fresh=True)
        if len(bodies) == 2:
            raise RuntimeError("API down")

    q = WorkQueue(handler, workers=2)
    q.start(Health(faults={}))
    q.add(("ns", "x"), {"metadata": {"resourceVersion": "7"}})
    await eventually(lambda: _true(len(bodies) == 3), within=5)
    await q.stop()

    assert bodies[0] != FETCH
    assert bodies[1] is FETCH
    assert bodies[2] is FETCH


async def _true(value: bool) -> bool:
    return value
