"""Reconcile one JobSchedule, and wake it exactly at its next slot.

Each reconcile lists the schedule's BackgroundJobs, asks
:func:`bgjobs.logic.schedule.plan` what to do, creates the slot's job under a
deterministic name (``<schedule>-<unix seconds>``: 409 means another replica
or an earlier run already did), prunes history, writes status with an
optimistic resourceVersion, and arms a timer for the next slot. There is no
polling tick: the timer fires at the slot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from bgjobs import API_GROUP, metrics
from bgjobs.k8s import Conflict, Kube
from bgjobs.logic.cron import ScheduleError, parse_schedule
from bgjobs.logic.schedule import missed_text, plan
from bgjobs.manifests.scheduled_job import (
    LABEL_SCHEDULE,
    run_now_job_name,
    scheduled_job,
    slot_job_name,
)
from bgjobs.models.backgroundjob import PLURAL as BGJ_PLURAL
from bgjobs.models.common import Condition
from bgjobs.models.jobschedule import KIND, PLURAL, ActiveJob, JobScheduleSpec, JobScheduleStatus
from bgjobs.models.registry import format_errors
from bgjobs.runtime.workqueue import FETCH, GONE, Key, Requeue, WorkQueue

log = logging.getLogger(__name__)

RUN_NOW_ANNOTATION = f"{API_GROUP}/run-now"
FINISHED = {"Completed", "Failed", "Cancelled"}


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


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

    Until every watch of BackgroundJobs has listed once, :attr:`ready` is false
    and the schedules list their children from the API server.
    """

    def __init__(self, jobs: WorkQueue, listed: Callable[[], bool]) -> None:
        self.jobs = jobs
        self._listed = listed
        self._by_owner: dict[str, set[Key]] = {}

    @property
    def ready(self) -> bool:
        return self._listed()

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
        """A child just created: known at once, before its watch event comes."""
        meta = obj["metadata"]
        self.jobs.remember((meta["namespace"], meta["name"]), obj)
        self.seen("ADDED", obj)

    def of(self, uid: str) -> list[dict[str, Any]]:
        bodies = (self.jobs.cached(key) for key in sorted(self._by_owner.get(uid, ())))
        return [b for b in bodies if isinstance(b, dict)]


class ScheduleReconciler:
    def __init__(self, kube: Kube, clock: Callable[[], datetime]) -> None:
        self.kube = kube
        self.clock = clock
        self.work: WorkQueue | None = None
        self.timers: Timers | None = None
        self.children: Children | None = None

    async def __call__(self, key: Key, body: Any, seen_at: float) -> None:
        namespace, name = key
        if body is FETCH:
            body = await self.kube.get_custom(PLURAL, namespace, name)
            if self.work is not None:
                self.work.remember(key, body if body is not None else GONE)
        if body is GONE or body is None:
            if self.timers is not None:
                self.timers.cancel(key)
            return
        try:
            await self.reconcile(key, body)
        except Conflict as exc:
            raise Requeue(0, fresh=True) from exc

    async def reconcile(self, key: Key, body: dict[str, Any]) -> None:
        namespace, name = key
        meta = body["metadata"]
        now = self.clock()
        old_raw = body.get("status") or {}
        try:
            status = JobScheduleStatus.model_validate(old_raw)
        except ValidationError:
            status = JobScheduleStatus()
        try:
            spec = JobScheduleSpec.model_validate(body.get("spec") or {})
            schedule = parse_schedule(spec.schedule, spec.time_zone)
        except (ValidationError, ScheduleError) as exc:
            message = format_errors(exc, "spec.") if isinstance(exc, ValidationError) else str(exc)
            if self.timers is not None:
                self.timers.cancel(key)
            new = status.model_copy(update={"next_schedule_time": None})
            await self._write(body, old_raw, new, ("False", "InvalidSchedule", message), now)
            return

        if self.children is not None and self.children.ready:
            children = self.children.of(meta["uid"])
        else:
            children = [
                c
                for c in await self.kube.list_custom(
                    BGJ_PLURAL, namespace, f"{LABEL_SCHEDULE}={name[:63].rstrip('-.')}"
                )
                if any(
                    r.get("uid") == meta["uid"] for r in c["metadata"].get("ownerReferences") or []
                )
            ]
        active = sorted(
            c["metadata"]["name"]
            for c in children
            if (c.get("status") or {}).get("phase") not in FINISHED
        )
        created_at = _ts(meta.get("creationTimestamp")) or now
        step = plan(schedule, spec, status, created=created_at, active=active, now=now)
        runs = status.run_count

        def runs_left() -> bool:
            return not spec.max_runs or runs < spec.max_runs

        token = (meta.get("annotations") or {}).get(RUN_NOW_ANNOTATION)
        handled_run_now = status.handled_run_now
        if token and token != status.handled_run_now:
            # A manual run: also while suspended, but it counts towards maxRuns.
            if runs_left():
                job_name = run_now_job_name(name, token)
                if await self._create(body, spec, job_name, now, now, "run-now"):
                    active.append(job_name)
                runs += 1
            else:
                self.kube.emit(
                    body,
                    type_="Warning",
                    reason="RunNowRefused",
                    message=f"run-now {token!r} ignored: all {spec.max_runs} runs (maxRuns) done",
                )
            handled_run_now = token

        if step.replace and runs_left():  # only to make room for the slot's run
            for child in step.replace:
                await self.kube.patch_custom(
                    BGJ_PLURAL, namespace, child, {"spec": {"cancel": True}}
                )
            self.kube.emit(
                body,
                type_="Normal",
                reason="Replaced",
                message=f"cancelled {', '.join(step.replace)} (concurrencyPolicy Replace)",
            )
        if step.run_slot is not None and runs_left():  # a run-now may have taken the last
            job_name = slot_job_name(name, step.run_slot)
            if await self._create(body, spec, job_name, step.run_slot, now, "slot"):
                active.append(job_name)
            runs += 1
        if step.missed or step.too_late:
            why = (
                f"the newest was {(now - step.last_schedule_time).total_seconds():.0f}s ago, "
                f"past startingDeadlineSeconds {spec.starting_deadline_seconds}"
                if step.too_late and step.last_schedule_time
                else "only the newest missed run is started"
            )
            self.kube.emit(
                body,
                type_="Warning",
                reason="MissedSchedule",
                message=f"skipped {missed_text(step.missed)} missed run(s): {why}",
            )
        if step.forbidden:
            self.kube.emit(
                body,
                type_="Warning",
                reason="SkippedForbid",
                message=f"skipped the run at {step.last_schedule_time}: "
                f"{', '.join(active)} still running (concurrencyPolicy Forbid)",
                repeats=True,
            )

        await self._prune(children, spec)
        successes = [
            t
            for c in children
            if (c.get("status") or {}).get("phase") == "Completed"
            and (t := _ts((c.get("status") or {}).get("completedAt")))
        ]
        if status.last_successful_time:
            successes.append(status.last_successful_time)
        last_ok = max(successes, default=None)
        new = status.model_copy(
            update={
                "last_schedule_time": step.last_schedule_time,
                "next_schedule_time": step.next_time,
                "last_successful_time": last_ok,
                "run_count": runs,
                "active": [ActiveJob(name=n) for n in sorted(set(active))],
                "handled_run_now": handled_run_now,
            }
        )
        ready: tuple[Literal["True", "False"], str, str]
        if spec.suspend:
            ready = ("True", "Suspended", "suspended: no new runs until spec.suspend is false")
        elif step.done or not runs_left():
            ready = ("True", "MaxRunsReached", f"all {spec.max_runs} runs done")
        else:
            ready = ("True", "Scheduled", f"next run at {step.next_time}")
        await self._write(body, old_raw, new, ready, now)
        if self.timers is not None:
            if step.next_time is not None:
                self.timers.at(key, step.next_time)
            else:
                self.timers.cancel(key)

    async def _create(
        self,
        body: dict[str, Any],
        spec: JobScheduleSpec,
        job_name: str,
        scheduled_time: datetime,
        now: datetime,
        why: str,
    ) -> bool:
        meta = body["metadata"]
        manifest = scheduled_job(
            schedule_name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            spec=spec,
            name=job_name,
            scheduled_time=scheduled_time,
        )
        obj, created = await self.kube.create_custom(BGJ_PLURAL, manifest)
        if obj is not None and self.children is not None:
            self.children.created(obj)
        if created:
            lag = max(0.0, (self.clock() - scheduled_time).total_seconds())
            if why == "slot":
                metrics.SCHEDULE_LAG.observe(lag)
            log.info(
                "%s/%s: created %s (%s, lag %.3fs)",
                meta["namespace"],
                meta["name"],
                job_name,
                why,
                lag,
            )
            self.kube.emit(
                body,
                type_="Normal",
                reason="Created",
                message=f"created BackgroundJob {job_name} for "
                f"{scheduled_time.astimezone(UTC).isoformat()}",
            )
        return created

    async def _prune(self, children: list[dict[str, Any]], spec: JobScheduleSpec) -> None:
        def finished_at(c: dict[str, Any]) -> str:
            st = c.get("status") or {}
            return str(st.get("completedAt") or c["metadata"].get("creationTimestamp") or "")

        def phase(c: dict[str, Any]) -> str:
            return str((c.get("status") or {}).get("phase") or "")

        groups = (
            ([c for c in children if phase(c) == "Completed"], spec.successful_jobs_history_limit),
            (
                [c for c in children if phase(c) in ("Failed", "Cancelled")],
                spec.failed_jobs_history_limit,
            ),
        )
        for group, limit in groups:
            group.sort(key=finished_at)
            for old in group[: max(0, len(group) - limit)]:
                meta = old["metadata"]
                if await self.kube.delete_custom(BGJ_PLURAL, meta["namespace"], meta["name"]):
                    log.info("pruned %s/%s (history limit)", meta["namespace"], meta["name"])

    async def _write(
        self,
        body: dict[str, Any],
        old_raw: dict[str, Any],
        new: JobScheduleStatus,
        ready: tuple[Literal["True", "False"], str, str],
        now: datetime,
    ) -> None:
        value, reason, message = ready
        prev = next((c for c in new.conditions if c.type == "Ready"), None)
        changed = prev is None or (prev.status, prev.reason) != (value, reason)
        generation = body["metadata"].get("generation")
        cond = Condition(
            type="Ready",
            status=value,
            reason=reason,
            message=message,
            last_transition_time=now if changed or prev is None else prev.last_transition_time,
            observed_generation=generation,
        )
        new = new.model_copy(update={"conditions": [cond], "observed_generation": generation})
        target = new.model_dump(by_alias=True, mode="json", exclude_none=True)
        patch: dict[str, Any] = {k: v for k, v in target.items() if old_raw.get(k) != v}
        for k in old_raw:
            if k not in target:
                patch[k] = None
        if not patch:
            return
        meta = body["metadata"]
        out = await self.kube.patch_custom(
            PLURAL,
            meta["namespace"],
            meta["name"],
            {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "status": patch},
            status=True,
        )
        if self.work is not None:
            self.work.remember((meta["namespace"], meta["name"]), out)
        if changed:
            self.kube.emit(
                out,
                type_="Warning" if value == "False" else "Normal",
                reason=reason,
                message=message,
            )
