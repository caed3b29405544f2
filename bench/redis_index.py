"""Benchmark: rebuilding and resyncing the Redis index with 100,000 BackgroundJobs.

Against a throw-away ``redis-server`` on loopback, with synthetic objects (a
tenth Running, the rest Pending; no API server involved): the rebuild as it
is now (each batch of 1,000 objects as a few multi-member writes) against the
rebuild as it was (one round trip per object; the baseline, run in the same
process), then what a
resync pass costs besides its LIST: working out what Redis should hold for
every object, and reading where Redis holds them.

    .venv/bin/python -m bench.redis_index [--count 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from bgjobs.models.registry import Registry
from bgjobs.queue import RedisQueue
from bgjobs.queue.redis_queue import QueueEntry
from bgjobs.runtime.reconciler import Reconciler
from bgjobs.runtime.registry_source import RegistrySource
from bgjobs.runtime.workqueue import WorkQueue
from tests.support.redis_server import RedisServer

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
TYPES = ("email", "notification", "analytics", "market-resolution", "cleanup")


def body(i: int) -> dict[str, Any]:
    created = NOW - timedelta(seconds=i)
    status: dict[str, Any] = {"phase": "Running"} if i % 10 == 0 else {"phase": "Pending"}
    status["queuedAt"] = created.isoformat()
    return {
        "metadata": {
            "namespace": f"ns-{i % 20}",
            "name": f"job-{i:06d}",
            "uid": f"uid-{i}",
            "creationTimestamp": created.isoformat(),
            "resourceVersion": str(i + 1),
        },
        "spec": {"type": TYPES[i % len(TYPES)], "payload": {"user": i}},
        "status": status,
    }


async def one_by_one(queue: RedisQueue, entries: list[QueueEntry]) -> None:
    """The rebuild of the first release: one enqueue or hold call, one round trip, per object."""
    await queue.clear()
    for e in entries:
        if e.state == "running":
            await queue.hold(e.member, e.job_type, e.priority)
        else:
            await queue.enqueue(e.member, e.job_type, e.priority, score=e.score, due=e.due, now=NOW)


async def run(count: int) -> None:
    registry = Registry.model_validate(
        {"handlers": {t: {"image": f"bgjobs/handler-{t}:0"} for t in TYPES}}
    )
    source = RegistrySource(registry)
    with RedisServer() as server:
        redis = Redis.from_url(server.url)
        queue = RedisQueue(redis, prefix="bench:")
        reconciler = Reconciler(None, queue, source, WorkQueue())  # type: ignore[arg-type]  # no API calls
        bodies = [body(i) for i in range(count)]

        t0 = time.perf_counter()
        entries = [e for e in (reconciler.entry_for(b, NOW) for b in bodies) if e]
        judge = time.perf_counter() - t0

        t0 = time.perf_counter()
        await one_by_one(queue, entries)
        old = time.perf_counter() - t0

        t0 = time.perf_counter()
        await queue.rebuild(entries, now=NOW, epoch="bench")
        new = time.perf_counter() - t0

        t0 = time.perf_counter()
        snap = await queue.snapshot(TYPES)
        read = time.perf_counter() - t0
        held = len(snap.running) + len(snap.queued)
        assert held == count, f"the index holds {held} of {count} objects"
        memory = (await redis.info("memory"))["used_memory"]
        await redis.aclose()

    print(f"{count:,} BackgroundJobs ({count // 10:,} Running), Redis on loopback")
    print(f"what Redis should hold, for every object (entry_for): {judge:6.2f} s")
    print(f"rebuild, one round trip per object (baseline):      {old:6.2f} s")
    print(f"rebuild, pipelines of 1,000:                         {new:6.2f} s")
    print(f"resync's read of where Redis holds each (snapshot):  {read:6.2f} s")
    print(f"ratio rebuild now / before: {new / old:.2f}")
    print(f"Redis memory for the index: {memory / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=100_000, help="BackgroundJobs")
    asyncio.run(run(parser.parse_args().count))


if __name__ == "__main__":
    main()
