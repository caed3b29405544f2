"""Reconcile one JobSchedule, and wake it exactly at its next slot.

Each reconcile reads the schedule's BackgroundJobs, asks
:func:`bgjobs.logic.schedule.decide` what to do, and does it: creates the
slot's job under a deterministic name (``<schedule>-<unix seconds>``: 409
means another replica or an earlier run already did), prunes history, writes
status with an optimistic resourceVersion, and arms a timer for the next slot.
There is no polling tick: the timer fires at the slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bgjobs import metrics
from bgjobs.k8s import Conflict, Kube
from bgjobs.logic.schedule import Child, Run, decide
from bgjobs.logic.status import merge_patch
from bgjobs.manifests.scheduled_job import scheduled_job
from bgjobs.models.backgroundjob import PLURAL as BGJ_PLURAL
from bgjobs.models.jobschedule import KIND, PLURAL, JobScheduleSpec, JobScheduleStatus
from bgjobs.runtime.workqueue import FETCH, GONE, Body, Key, Marker, Requeue, WorkQueue
from bgjobs.vocabulary import READY

log = logging.getLogger(__name__)
#: A status write that meets a newer version, after jobs were created: tries.
WRITE_ATTEMPTS = 3


class Timers:
    """One pending wake-up per schedule, at the slot's wall-clock time."""

    def __init__(self, fire: Callable[[Key], None], clock: Callable[[], datetime]) -> None:
        self._fire = fire
        self._clock = clock
        self._handles: dict[Key, asyncio.TimerHandle] = {}

    def at(self, key: Key, when: datetime) -> None:
        self.cancel(key)
        delay = max(0.0, (when - self._clock()).total_seconds())
        loop = asyncio.get_running_loop()
        self._handles[key] = loop.call_later(delay, self._ring, key)

    def _ring(self, key: Key) -> None:
        self._handles.pop(key, None)
        self._fire(key)

    def cancel(self, key: Key) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()


class Children:
    """Each JobSchedule's BackgroundJobs, from the operator's own cache of them
    (kept current by their watch): no LIST per schedule event.

    A schedule's reconcile waits (:meth:`synced`) until every watch of
    BackgroundJobs has listed once, at the start: before, the index is partial.
    """

    def __init__(self, jobs: WorkQueue, synced: Callable[[], Awaitable[object]]) -> None:
        self.jobs = jobs
        self.synced = synced
        self._by_owner: dict[str, set[Key]] = {}

    def seen(self, kind: str, obj: dict[str, Any]) -> None:
        """A BackgroundJob event (:meth:`Runtime.on_bgjob`): index it under its schedule."""
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") != KIND or not ref.get("uid"):
                continue
            if kind in ("DELETED", "GONE"):
                keys = self._by_owner.get(ref["uid"])
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._by_owner[ref["uid"]]
            else:
                self._by_owner.setdefault(ref["uid"], set()).add(key)

    def created(self, obj: dict[str, Any]) -> None:
        """A child just created: indexed at once, before its watch event comes (its
        body too, unless the watch brought one already)."""
        meta = obj["metadata"]
        self.jobs.read((meta["namespace"], meta["name"]), obj)
        self.seen("ADDED", obj)

    def of(self, uid: str) -> list[dict[str, Any]]:
        bodies = (self.jobs.cached(key) for key in sorted(self._by_owner.get(uid, ())))
        return [b for b in bodies if isinstance(b, dict)]


@dataclass
class ScheduleReconciler:
    kube: Kube
    work: WorkQueue  # of the JobSchedules
    timers: Timers
    children: Children
    clock: Callable[[], datetime]

    async def __call__(self, key: Key, body: Body, seen_at: float) -> None:
        namespace, name = key
        if body is FETCH:
            read = await self.kube.get_custom(PLURAL, namespace, name)
            self.work.read(key, read)
            body = GONE if read is None else read
        if isinstance(body, Marker):  # GONE
            self.timers.cancel(key)
            return
        try:
            await self.reconcile(key, body)
        except Conflict as exc:
            raise Requeue(0, fresh=True) from exc

    async def reconcile(self, key: Key, body: dict[str, Any]) -> None:
        """Read the schedule's jobs, decide (:func:`bgjobs.logic.schedule.decide`), act.

        The jobs are created before the status that counts them is written. When
        that write meets a newer version (a second run-now moments after the
        first), the object is read again and decided again with the jobs made so
        far counted, so that a run is never lost from ``runCount`` (``maxRuns``).
        """
        made: set[Run] = set()
        cancelled: set[str] = set()
        for attempt in range(WRITE_ATTEMPTS):
            children = [Child.of(c) for c in await self._children(body)]
            decision = decide(body, children, self.clock(), made=frozenset(made))
            for name in decision.cancel:
                if name not in cancelled:
                    patch = {"spec": {"cancel": True}}
                    await self.kube.patch_custom(BGJ_PLURAL, key[0], name, patch)
                    cancelled.add(name)
            if decision.spec is not None:
                made |= {r for r in decision.runs if await self._create(body, decision.spec, r)}
            for name in decision.prune:
                if await self.kube.delete_custom(BGJ_PLURAL, key[0], name):
                    log.info("pruned %s/%s (history limit)", key[0], name)
            try:
                await self._write(body, decision.status_after({r.name for r in made}))
                break
            except Conflict:
                if not made or attempt == WRITE_ATTEMPTS - 1:
                    raise  # nothing of ours to count: read afresh and start over
                fresh = await self.kube.get_custom(PLURAL, *key)
                if fresh is None:
                    return
                body = fresh
        for say in decision.say:  # once, for what was decided last
            self.kube.emit(
                body, type_=say.type_, reason=say.reason, message=say.message, repeats=say.repeats
            )
        if decision.wake_at is not None:
            self.timers.at(key, decision.wake_at)
        else:
            self.timers.cancel(key)

    async def _children(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        await self.children.synced()
        return self.children.of(body["metadata"]["uid"])

    async def _create(self, body: dict[str, Any], spec: JobScheduleSpec, run: Run) -> bool:
        meta = body["metadata"]
        manifest = scheduled_job(
            schedule_name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            spec=spec,
            name=run.name,
            scheduled_time=run.scheduled_time,
        )
        obj, created = await self.kube.create_custom(BGJ_PLURAL, manifest)
        if obj is not None:
            self.children.created(obj)
        if created:
            lag = max(0.0, (self.clock() - run.scheduled_time).total_seconds())
            if run.why == "slot":
                metrics.SCHEDULE_LAG.observe(lag)
            log.info(
                "%s/%s: created %s (%s, lag %.3fs)",
                meta["namespace"],
                meta["name"],
                run.name,
                run.why,
                lag,
            )
            self.kube.emit(
                body,
                type_="Normal",
                reason="Created",
                message=f"created BackgroundJob {run.name} for "
                f"{run.scheduled_time.astimezone(UTC).isoformat()}",
            )
        return created

    async def _write(self, body: dict[str, Any], new: JobScheduleStatus) -> None:
        """Write what changed (optimistically); an Event when Ready changes."""
        old_raw = body.get("status") or {}
        patch = merge_patch(old_raw, new)
        if not patch:
            return
        meta = body["metadata"]
        out = await self.kube.patch_status(
            PLURAL, meta["namespace"], meta["name"], patch, meta.get("resourceVersion")
        )
        self.work.wrote((meta["namespace"], meta["name"]), out)
        ready = new.conditions[0]
        before: dict[str, Any] = next(
            (c for c in old_raw.get("conditions") or [] if c.get("type") == READY), {}
        )
        if (before.get("status"), before.get("reason")) != (ready.status, ready.reason):
            self.kube.emit(
                out,
                type_="Warning" if ready.status == "False" else "Normal",
                reason=ready.reason,
                message=ready.message,
            )
