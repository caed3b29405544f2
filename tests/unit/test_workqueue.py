"""The per-key work queue: deduplicated, serial per key, urgent lane, retries."""

import asyncio
from typing import Any

from bgjobs.runtime.health import Health
from bgjobs.runtime.workqueue import FETCH, GONE, Key, Requeue, WorkQueue
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

    q = WorkQueue(workers=4)
    q.start(handler, Health(faults={}))
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

    q = WorkQueue(workers=1)
    q.start(handler, Health(faults={}))
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

    q = WorkQueue(workers=2)
    q.start(handler, Health(faults={}))
    q.add(("ns", "x"), {"metadata": {"resourceVersion": "7"}})
    await eventually(lambda: _true(len(bodies) == 3), within=5)
    await q.stop()

    assert bodies[0] != FETCH
    assert bodies[1] is FETCH
    assert bodies[2] is FETCH


async def _true(value: bool) -> bool:
    return value


def body(version: str) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": version}}


def version(q: WorkQueue, key: Key) -> str:
    cached = q.cached(key)
    assert isinstance(cached, dict)
    return str(cached["metadata"]["resourceVersion"])


async def written(q: WorkQueue, key: Key, version: str, *, start: str = "old") -> None:
    """Run one reconcile of ``key`` (from version ``start``) whose own write
    returns ``version``."""
    done = asyncio.Event()

    async def handler(k: Key, b: Any, seen_at: float) -> None:
        q.wrote(k, body(version))
        done.set()

    q.add(key, body(start))
    q.start(handler, Health(faults={}))
    await eventually(lambda: _true(done.is_set()), within=5)
    await q.stop()


async def test_after_an_own_write_older_watch_versions_are_not_kept() -> None:
    # Versions are opaque: "9" is older than "b7" here only because the watch
    # delivers it before the write's own version.
    key, q = ("ns", "a"), WorkQueue(workers=1)
    await written(q, key, "b7")
    assert version(q, key) == "b7"
    q.watched(key, body("9"))  # the watch catching up: older than the write
    assert version(q, key) == "b7"
    q.watched(key, body("b7"))  # the write's own event
    q.watched(key, body("10"))  # anything after it is newer
    assert version(q, key) == "10"


async def test_a_write_the_watch_delivered_first_does_not_hide_what_came_after() -> None:
    key = ("ns", "a")
    q = WorkQueue(workers=1)
    done = asyncio.Event()

    async def handler(k: Key, b: Any, seen_at: float) -> None:
        # The watch delivers the write's version, and a newer one, before the
        # write's answer is read.
        q.watched(k, body("w1"))
        q.watched(k, body("w2"))
        q.wrote(k, body("w1"))
        done.set()

    q.add(key, body("w0"))
    q.start(handler, Health(faults={}))
    await eventually(lambda: _true(done.is_set()), within=5)
    await q.stop()
    assert version(q, key) == "w2"
    q.watched(key, body("w3"))  # nothing is awaited
    assert version(q, key) == "w3"


async def test_a_list_ends_the_wait_for_an_own_write() -> None:
    key, q = ("ns", "a"), WorkQueue(workers=1)
    await written(q, key, "mine")
    q.add(key, body("listed"), listed=True)  # not in the watch's order: taken as it comes
    assert version(q, key) == "listed"
    q.watched(key, body("later"))
    assert version(q, key) == "later"


async def test_a_deletion_ends_the_wait_for_an_own_write() -> None:
    key, q = ("ns", "a"), WorkQueue(workers=1)
    await written(q, key, "mine")
    q.watched(key, GONE)
    assert q.cached(key) is GONE
    q.watched(key, body("again"))  # created again under the same name
    assert version(q, key) == "again"


def test_a_read_fills_only_what_the_watch_left_empty() -> None:
    key, q = ("ns", "a"), WorkQueue(workers=1)
    q.read(key, body("read"))
    assert version(q, key) == "read"
    q.read(key, body("second read"))  # the first is kept: the watch decides next
    assert version(q, key) == "read"
    q.watched(key, body("watched"))
    assert version(q, key) == "watched"
    q.read(("ns", "b"), None)
    assert q.cached(("ns", "b")) is GONE
    assert q.cached(("ns", "c")) is FETCH


async def test_a_write_that_changed_nothing_waits_for_no_event() -> None:
    # The server answers a no-op write with the version the reconcile read,
    # and sends no event for it.
    key, q = ("ns", "a"), WorkQueue(workers=1)
    await written(q, key, "same", start="same")
    q.watched(key, body("next"))
    assert version(q, key) == "next"


async def test_an_own_write_whose_event_never_comes_is_given_up_and_reconciled_again() -> None:
    key, q = ("ns", "a"), WorkQueue(workers=1, await_seconds=0.2)
    seen: list[str] = []

    async def handler(k: Key, b: Any, seen_at: float) -> None:
        seen.append(b["metadata"]["resourceVersion"])
        if len(seen) == 1:
            q.wrote(k, body("lost"))  # a relist passes it: its event never comes

    q.add(key, body("first"))
    q.start(handler, Health(faults={}))
    await eventually(lambda: _true(seen == ["first"]), within=5)
    q.add(key, body("newer"))  # held back (not the awaited version), no reconcile yet
    # The wait ends, and the held version is reconciled.
    await eventually(lambda: _true(len(seen) >= 2), within=5, what="a reconcile of the held")
    await q.stop()
    assert seen == ["first", "newer"]


def test_a_read_after_a_deletion_is_kept() -> None:
    q = WorkQueue(workers=1)
    q.watched(("ns", "a"), GONE)
    q.read(("ns", "a"), body("created again"))
    assert version(q, ("ns", "a")) == "created again"
