"""Resync: find where Redis disagrees with the BackgroundJobs, and repair it.

The objects are the source of truth; Redis is an index of them. A write can
be lost (a failover to a replica that lagged, a person's ``DEL``), so every
``--resync-period`` the leader compares the two:

=================  ==========================================  ================
kind               found                                       repair
=================  ==========================================  ================
``ghost-running``  a member holds a slot, its job is not       slot freed
                   Running (or is gone)
``stale-queued``   a member is queued, its job is finished,    entry dropped
                   cancelled, unknown or gone
``stale-expiry``   a ttlAfterFinished timer for a job gone     timer dropped
``missing-slot``   a Running job holds no slot                 slot taken
``missing-entry``  a Pending or Retrying job is in no queue    queued again
``missing-expiry`` a finished job's ttlAfterFinished timer     timer set
                   is not set
=================  ==========================================  ================

A suspect is read again (the object, and its place in Redis) before it is
repaired, with reconciles held back, and left to the next pass when it
changed meanwhile, waits for its own reconcile, was never reconciled yet,
was dispatched within the grace, or already has its next attempt's Job (its
``Running`` is on its way). A pass is skipped before the registry has loaded
and Redis has been rebuilt, and dropped when Redis is rebuilt during it.

A repair frees or drops what Redis holds wrongly and marks the job dirty: the
reconciler then writes what Redis should hold, as it does for any event.
Each repair is counted in ``bgjobs_redis_repairs_total{kind}`` and reported
in an Event on the job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from bgjobs import metrics
from bgjobs.k8s import Kube
from bgjobs.logic import lifecycle as lc
from bgjobs.logic.naming import attempt_job_name, queue_member, split_member
from bgjobs.queue import RedisQueue
from bgjobs.queue.redis_queue import QueueEntry
from bgjobs.runtime.reconciler import Reconciler, owned_by, status_of
from bgjobs.runtime.rwlock import RWLock
from bgjobs.runtime.workqueue import WorkQueue

log = logging.getLogger(__name__)
YIELD_EVERY = 500  # objects judged between two yields to the event loop

MESSAGES = {
    "ghost-running": "held a dispatch slot in Redis while not Running; the slot was freed",
    "stale-queued": "was still queued in Redis although it cannot run; the entry was dropped",
    "stale-expiry": "had a ttlAfterFinished timer in Redis but is gone; the timer was dropped",
    "missing-slot": "was Running without its dispatch slot in Redis; the slot was taken",
    "missing-entry": "was waiting but in no queue in Redis; it was queued again",
    "missing-expiry": "had no ttlAfterFinished timer in Redis; it was set",
}


def _state(entry: QueueEntry | None, now: datetime) -> str | None:
    if entry is None:
        return None
    if entry.state == "expiring" and entry.expires is not None and entry.expires <= now:
        return None  # due: the dispatcher is deleting it
    return entry.state


class Resync:
    def __init__(
        self,
        kube: Kube,
        queue: RedisQueue,
        reconciler: Reconciler,
        work: WorkQueue,
        lock: RWLock,
        *,
        ready: Callable[[], bool],
        objects: Callable[[], AsyncIterator[list[dict[str, Any]]]],
        period: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.kube = kube
        self.queue = queue
        self.reconciler = reconciler
        self.work = work
        self.lock = lock
        self.ready = ready
        self.objects = objects  # every BackgroundJob, a page at a time
        self.period = period
        self.grace = timedelta(seconds=min(10.0, period / 2))
        self.clock = clock

    async def run(self, ok: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(self.period)
            await self.once()
            ok()

    async def once(self) -> dict[str, int]:
        """One comparison; returns the repairs made, by kind."""
        if not self.ready():
            return {}
        t0 = time.monotonic()
        started = self.clock()
        epoch = await self.queue.epoch()
        desired: dict[str, str | None] = {}
        versions: dict[str, str | None] = {}  # what is kept of each object listed
        async for page in self.objects():
            now = self.clock()
            for i, body in enumerate(page):
                if i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # about 25 µs each: let reconciles run between
                meta = body["metadata"]
                member = queue_member(meta["namespace"], meta["name"])
                desired[member] = _state(self.reconciler.entry_for(body, now), now)
                versions[member] = meta.get("resourceVersion")
        async with self.lock.reading():  # not in the middle of a rebuild
            snap = await self.queue.snapshot(self.reconciler.registry.current.handlers)
            if epoch is None or await self.queue.epoch() != epoch:
                return {}  # Redis was rebuilt meanwhile: compare again next time
        cutoff_ms = (started - self.grace).timestamp() * 1000

        suspects: dict[str, str] = {}
        for member, at in snap.running.items():
            if desired.get(member) != "running" and (at is None or at < cutoff_ms):
                suspects[member] = "ghost-running"
        for member in snap.queued - snap.running.keys():
            if desired.get(member) != "queued":
                suspects[member] = "stale-queued"
        for member in snap.expiring:
            if member not in desired:
                suspects[member] = "stale-expiry"
        for member, state in desired.items():
            held = member in snap.running
            if state == "running" and not held:
                suspects[member] = "missing-slot"
            elif state == "queued" and not held and member not in snap.queued:
                suspects[member] = "missing-entry"
            elif state == "expiring" and member not in snap.expiring:
                suspects[member] = "missing-expiry"

        repaired: dict[str, int] = {}
        for member, kind in sorted(suspects.items()):
            async with self.lock.writing():  # no reconcile half-way through meanwhile
                if await self._repair(member, kind, versions.get(member)):
                    repaired[kind] = repaired.get(kind, 0) + 1
        if repaired:
            self.reconciler.wake_dispatcher()  # freed slots, entries queued again
        log.debug(
            "resync: %d objects, %d suspects, repaired %s in %.2fs",
            len(desired),
            len(suspects),
            repaired or "nothing",
            time.monotonic() - t0,
        )
        return repaired

    async def _repair(self, member: str, kind: str, listed: str | None) -> bool:
        """Repair one suspect, unless it changed since the list (``listed``: the
        resourceVersion the list showed) or its reconcile is due."""
        namespace, name = split_member(member)
        if self.work.busy((namespace, name)):
            return False  # its own reconcile is due and will settle it
        body = await self.kube.get_bgjob(namespace, name)
        if _version(body) != listed:
            return False  # it changed since the list: its reconcile has it in hand
        now = self.clock()
        state = _state(self.reconciler.entry_for(body, now), now) if body else None
        if kind == "ghost-running" and body is not None and await self._starting(body):
            return False
        job_type = str(((body or {}).get("spec") or {}).get("type") or "")
        types = {job_type, *self.reconciler.registry.current.handlers} - {""}
        held, queued = await self.queue.place(member, types)
        judged = bool(((body or {}).get("status") or {}).get("phase"))
        still = {
            "ghost-running": state != "running" and held,
            "stale-queued": state != "queued" and queued and not held,
            "stale-expiry": body is None,
            "missing-slot": state == "running" and not held,
            # Never reconciled yet (no phase): its first reconcile queues it.
            "missing-entry": state == "queued" and judged and not (held or queued),
            "missing-expiry": state == "expiring",
        }[kind]
        if not still:
            return False
        if kind in ("ghost-running", "stale-queued"):
            for each in sorted(types) or [""]:
                await self.queue.forget(member, each)
        elif kind == "stale-expiry":
            await self.queue.cancel_expiry(member)
        metrics.REPAIRS.labels(kind).inc()
        message = f"BackgroundJob {member} {MESSAGES[kind]}"
        log.warning("resync: %s", message)
        if body is not None:
            self.kube.emit(
                body, type_="Warning", reason="QueueRepaired", message=message, repeats=True
            )
            self.work.add((namespace, name))
        return True

    async def _starting(self, body: dict[str, Any]) -> bool:
        """The next attempt's Job exists: a dispatch created it, ``Running`` is to come."""
        meta = body["metadata"]
        job_name = attempt_job_name(meta["name"], lc.next_attempt_number(status_of(body)))
        job = await self.reconciler.attempt_job(meta["namespace"], job_name)
        return job is not None and owned_by(job, meta["uid"])


def _version(body: dict[str, Any] | None) -> str | None:
    return None if body is None else body["metadata"].get("resourceVersion")
