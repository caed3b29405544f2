"""The one dispatch loop: promote due jobs, take ready ones while capacity is free.

It sleeps until something can change the answer (a job queued, a slot freed,
the registry reloaded: :meth:`Dispatcher.wake`) or until the earliest delayed
job or expiry is due, never on a fixed polling tick. A 30 s safety wake-up
only checks that Redis still has its data (and rebuilds it if not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

from bgjobs import metrics
from bgjobs.logic.naming import split_member
from bgjobs.queue import RedisQueue
from bgjobs.queue.redis_queue import REDIS_ERRORS
from bgjobs.runtime.registry_source import RegistrySource
from bgjobs.runtime.workqueue import WorkQueue

log = logging.getLogger(__name__)

SAFETY_WAKE = 30.0
BATCH = 100


class Dispatcher:
    def __init__(
        self,
        queue: RedisQueue,
        registry: RegistrySource,
        work: WorkQueue,
        rebuild: Callable[[str], Awaitable[int]],
        clock: Callable[[], datetime],
    ) -> None:
        self.queue = queue
        self.registry = registry
        self.work = work
        self.rebuild = rebuild
        self.clock = clock
        self._event = asyncio.Event()
        self._rebuilt = False
        self._last_stats = 0.0
        self._published: object = None

    def wake(self) -> None:
        self._event.set()

    @property
    def rebuilt(self) -> bool:
        """Redis has been rebuilt from the objects since this process started."""
        return self._rebuilt

    async def run(self, ok: Callable[[], None] = lambda: None) -> None:
        """Dispatch for ever; ``ok`` is called after every good pass.

        Redis being unreachable is waited out here (with backoff); anything
        else escapes to the supervisor, which logs, counts and restarts.
        """
        backoff = 0.5
        while True:
            self._event.clear()
            if not self.registry.loaded:
                # Registry first: no rebuild or dispatch before the caps and
                # types are known; its first load wakes this loop.
                await self._event.wait()
                continue
            try:
                more, wake_ms = await self.step()
            except REDIS_ERRORS as exc:
                metrics.REDIS_UP.set(0)
                log.warning("Redis unreachable (%s); trying again in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            metrics.REDIS_UP.set(1)
            backoff = 0.5
            ok()
            if more:
                continue
            timeout = SAFETY_WAKE
            if wake_ms is not None:
                timeout = min(timeout, max(0.0, wake_ms / 1000 - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), timeout)

    async def step(self) -> tuple[bool, float | None]:
        """One pass; returns (maybe more to dispatch now, next wake-up in ms)."""
        if not self._rebuilt or await self.queue.epoch() is None:
            reason = "start" if not self._rebuilt else "Redis lost its data"
            t0 = time.monotonic()
            count = await self.rebuild(uuid.uuid4().hex)
            log.info(
                "rebuilt the Redis index from %d BackgroundJobs (%s) in %.2fs",
                count,
                reason,
                time.monotonic() - t0,
            )
            self._rebuilt = True
            self._published = None  # the rebuild cleared the published config too
        now = self.clock()
        await self.queue.promote(now)
        for member in await self.queue.due_expiries(now):
            await self.queue.cancel_expiry(member)
            self.work.add(split_member(member))
        registry = self.registry.current
        if registry is not self._published:
            await self.queue.publish_config(registry.max_concurrent_jobs, registry.caps())
            self._published = registry
        got = await self.queue.dispatch(
            max_concurrent=registry.max_concurrent_jobs,
            caps=registry.caps(),
            now=now,
            limit=BATCH,
        )
        for item in got:
            self.work.add(split_member(item.member), urgent=True)
        await self._stats()
        return len(got) >= BATCH, await self.queue.next_wakeup()

    async def _stats(self) -> None:
        if time.monotonic() - self._last_stats < 1.0:
            return
        self._last_stats = time.monotonic()
        counts = await self.queue.stats()
        registry = self.registry.current
        metrics.QUEUE_DEPTH.clear()
        metrics.RUNNING.clear()
        running_total = 0
        for (state, job_type, prio), n in counts.items():
            if state in ("ready", "delayed"):
                metrics.QUEUE_DEPTH.labels(job_type, prio).inc(n)
            else:
                metrics.RUNNING.labels(job_type).inc(n)
                running_total += n
        cap = registry.max_concurrent_jobs
        metrics.FREE_CAPACITY.set(max(0, cap - running_total) if cap else -1)
