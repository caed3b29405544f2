"""Reconcile one BackgroundJob: parse, decide (``bgjobs.logic``), act (API, Redis).

Level-based: the same object and the same Redis state always lead to the
same actions, so a reconcile can be repeated at any time (after a crash, a
conflict, a Redis outage) without doing anything twice. Attempt Jobs have
deterministic names, and 409 AlreadyExists counts as success.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bgjobs import metrics
from bgjobs.k8s import Conflict, Kube, KubeError
from bgjobs.logic import lifecycle as lc
from bgjobs.logic.naming import attempt_job_name, queue_member
from bgjobs.logic.outcome import Outcome, classify
from bgjobs.logic.priority import queue_score
from bgjobs.logic.status import merge_patch
from bgjobs.logic.validation import Effective, InvalidSpec, effective, parse_spec, retention
from bgjobs.manifests.attempt_job import attempt_job, attempt_label
from bgjobs.models.backgroundjob import (
    KIND,
    PLURAL,
    BackgroundJobSpec,
    BackgroundJobStatus,
)
from bgjobs.models.common import Phase, Priority, parse_time
from bgjobs.models.durations import parse_duration
from bgjobs.models.jobschedule import KIND as SCHEDULE_KIND
from bgjobs.queue import RedisQueue
from bgjobs.queue.redis_queue import QueueEntry
from bgjobs.runtime import slim
from bgjobs.runtime.registry_source import RegistrySource
from bgjobs.runtime.workqueue import FETCH, GONE, Body, Key, Marker, Requeue, WorkQueue
from bgjobs.vocabulary import (
    LABEL_JOB,
    LABEL_PHASE,
    LABEL_PRIORITY,
    LABEL_TYPE,
    OUTCOME_FINALIZER,
    PHASE_LABELS,
    RETRY_ANNOTATION,
)

log = logging.getLogger(__name__)

DISPATCH_RETRY = timedelta(seconds=10)
STALE_JOB_RETRY = timedelta(seconds=5)  # a leftover Job being deleted
NAME_TAKEN_RETRY = timedelta(seconds=30)  # someone else's Job holds the name
WARNING_REASONS = {
    "InvalidSpec",
    "UnknownType",
    "PermanentFailure",
    "BackoffLimitExceeded",
    "Retrying",
    "DispatchFailed",
}

Clock = Callable[[], datetime]


def owned_by(obj: dict[str, Any], uid: str) -> bool:
    """``obj`` is owned by the object with this uid."""
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def _named_owner(refs: list[dict[str, Any]], name: str) -> bool:
    """Among ``refs``, a BackgroundJob named ``name`` (of any incarnation)."""
    return any(r.get("kind") == KIND and r.get("name") == name for r in refs)


def _scheduled(body: dict[str, Any]) -> bool:
    """Made by a JobSchedule (whose history limits decide how long it stays)."""
    refs = body.get("metadata", {}).get("ownerReferences") or []
    return any(r.get("kind") == SCHEDULE_KIND for r in refs)


def utcnow() -> datetime:
    return datetime.now(UTC)


def status_of(body: dict[str, Any]) -> BackgroundJobStatus:
    try:
        return BackgroundJobStatus.model_validate(body.get("status") or {})
    except ValidationError:
        log.warning("unreadable status on %s; starting over", body["metadata"]["name"])
        return BackgroundJobStatus()


@dataclass
class Job:
    """One BackgroundJob as the reconciler sees it."""

    body: dict[str, Any]
    status: BackgroundJobStatus

    @property
    def namespace(self) -> str:
        return str(self.body["metadata"]["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def member(self) -> str:
        return queue_member(self.namespace, self.name)

    @property
    def raw_type(self) -> str:
        return str((self.body.get("spec") or {}).get("type") or "")


class Reconciler:
    def __init__(
        self,
        kube: Kube,
        queue: RedisQueue,
        registry: RegistrySource,
        work: WorkQueue,
        *,
        clock: Clock = utcnow,
        wake_dispatcher: Callable[[], None] = lambda: None,
        transition_events: bool = False,
        phase_labels: bool = False,
    ) -> None:
        self.kube = kube
        self.queue = queue
        self.registry = registry
        self.clock = clock
        self.wake_dispatcher = wake_dispatcher
        #: An Event on every transition; off, only on the Warning ones (the
        #: status conditions record every transition either way).
        self.transition_events = transition_events
        self.phase_labels = phase_labels
        self.work = work
        #: Attempt Jobs as last seen by the watch (kopf_app fills it): reading a
        #: running attempt costs no API call until its Job has finished.
        self.attempt_jobs: dict[Key, dict[str, Any]] = {}
        self._deleted: dict[Key, list[str]] = {}  # attempt Job names of deleted objects
        self._touched: set[Key] | None = None

    # Entry point ---------------------------------------------------------------

    def record_touched(self) -> None:
        """Start noting which keys are reconciled (see :meth:`touched`)."""
        self._touched = set()

    def touched(self) -> set[Key]:
        """The keys whose reconcile ended since :meth:`record_touched`; stops noting."""
        keys, self._touched = self._touched or set(), None
        return keys

    async def __call__(self, key: Key, body: Body, seen_at: float) -> None:
        try:
            await self._handle(key, body, seen_at)
        finally:
            # Noted when it ends: a reconcile that ends after a rebuild's list
            # was read may have written what the list did not show.
            if self._touched is not None:
                self._touched.add(key)

    async def _handle(self, key: Key, body: Body, seen_at: float) -> None:
        namespace, name = key
        if body is FETCH:
            read = await self.kube.get_bgjob(namespace, name)
            self.work.read(key, read)
            body = GONE if read is None else read
        if isinstance(body, Marker):  # GONE
            await self._forget(queue_member(namespace, name), "")
            await self.queue.cancel_expiry(queue_member(namespace, name))
            await self._release_all(namespace, name)
            return
        self._deleted.pop(key, None)  # deleted, then created again
        if not self.registry.loaded:
            return  # judged once the registry loads (every known key is queued again)
        seen = datetime.fromtimestamp(seen_at, UTC)
        try:
            await self.reconcile(Job(body, status_of(body)), seen)
        except Conflict as exc:
            raise Requeue(0, fresh=True) from exc

    async def reconcile(self, job: Job, seen: datetime) -> None:
        registry = self.registry.current
        now = self.clock()
        try:
            spec = parse_spec(job.body.get("spec"), registry.max_payload_bytes)
        except InvalidSpec as exc:
            await self._forget(job.member, job.raw_type)
            if job.status.phase != Phase.FAILED or job.status.reason != "InvalidSpec":
                await self._write(job, lc.invalid(job.status, str(exc), now), now)
            return

        job = await self._manual_retry(job, spec, now)

        if job.status.phase is not None and job.status.phase.finished:
            await self._finished(job, spec, now)
            return
        if not self.phase_labels:
            await self._drop_stale_labels(job)

        if spec.cancel:
            await self._cancel(job, spec, now)
            return

        handler = registry.handlers.get(spec.type)
        if handler is None and job.status.phase != Phase.RUNNING:
            await self._forget(job.member, spec.type)
            if job.status.reason != "UnknownType":
                new = lc.unknown_type(job.status, spec.type)
                await self._write(job, new.model_copy(update={"priority": spec.priority}), now)
            return
        settings = effective(spec, registry) if handler else None
        if settings is not None and job.status.priority != settings.priority:
            # Carried by the next status write, whichever it is.
            job.status = job.status.model_copy(update={"priority": settings.priority})

        if job.status.phase == Phase.RUNNING:
            job = await self._check_attempt(job, spec, settings, now)
            if job.status.phase is not None and job.status.phase.finished:
                await self._finished(job, spec, now)
                return
            if job.status.phase == Phase.RUNNING or settings is None:
                return

        assert settings is not None
        assert handler is not None
        if await self.queue.is_running(job.member):
            await self._start_attempt(job, spec, settings, now, seen)
        else:
            await self._enqueue(job, spec, settings, now, seen)

    # Steps -----------------------------------------------------------------------

    async def _manual_retry(self, job: Job, spec: BackgroundJobSpec, now: datetime) -> Job:
        token = (job.body["metadata"].get("annotations") or {}).get(RETRY_ANNOTATION)
        if not token or token == job.status.handled_retry:
            return job
        if job.body.get(slim.SLIM):  # acted on from the whole object
            raise Requeue(0, fresh=True)
        if job.status.phase == Phase.FAILED:
            new = lc.manual_retry(job.status, token)
            await self.queue.cancel_expiry(job.member)
        else:
            new = job.status.model_copy(update={"handled_retry": token})
            self.kube.emit(
                job.body,
                type_="Warning",
                reason="RetryIgnored",
                message=f"{RETRY_ANNOTATION}={token} ignored: only a Failed job can be retried "
                f"(this one is {job.status.phase or 'new'})",
                repeats=True,
            )
        return await self._write(job, new, now)

    async def _finished(self, job: Job, spec: BackgroundJobSpec, now: datetime) -> None:
        await self._forget(job.member, spec.type)
        for attempt in job.status.attempts:
            # The outcome is recorded: the Job may go (a restart between the
            # status write and the release leaves it to here).
            cached = self.attempt_jobs.get((job.namespace, attempt.job_name))
            if cached is not None:
                await self._release(job.namespace, cached)
                self.attempt_jobs.pop((job.namespace, attempt.job_name), None)
        kept = retention(spec, self.registry.current, from_schedule=_scheduled(job.body))
        if kept is None:
            await self.queue.cancel_expiry(job.member)
            return
        done = job.status.completed_at or now
        at = done + kept
        if at <= now:
            uid = job.body["metadata"].get("uid")
            if await self.kube.delete_bgjob(job.namespace, job.name, uid):
                log.info("deleted %s/%s: kept %s after it finished", job.namespace, job.name, kept)
            await self.queue.cancel_expiry(job.member)
        else:
            await self.queue.schedule_expiry(job.member, at)
            self.wake_dispatcher()

    async def _cancel(self, job: Job, spec: BackgroundJobSpec, now: datetime) -> None:
        # The running attempt's Job, and the next attempt's, which a dispatch
        # may have created without getting to write Running (a refused write,
        # a crash): names are deterministic, so nothing is left running.
        names = {attempt_job_name(job.name, lc.next_attempt_number(job.status))}
        if job.status.phase == Phase.RUNNING and job.status.job_name:
            names.add(job.status.job_name)
        for name in sorted(names):
            existing = await self.attempt_job(job.namespace, name)
            if existing is not None and owned_by(existing, job.body["metadata"]["uid"]):
                await self.kube.delete_job(job.namespace, name)
                await self._release(job.namespace, existing)
        job = await self._write(job, lc.cancelled(job.status, now), now)
        await self._forget(job.member, spec.type)
        await self._finished(job, spec, now)

    async def _check_attempt(
        self, job: Job, spec: BackgroundJobSpec, settings: Effective | None, now: datetime
    ) -> Job:
        """Look at the running attempt's Job; record its outcome when it has one."""
        job_name = job.status.job_name or ""
        batch_job = await self.attempt_job(job.namespace, job_name) if job_name else None
        outcome: Outcome | None
        if batch_job is None:
            outcome = Outcome.lost(
                f"the attempt's Job {job_name} disappeared before it finished", now
            )
        elif classify(batch_job, []) is None:  # still running: no need to look at its pods
            deleting = batch_job["metadata"].get("deletionTimestamp")
            error = f"the attempt's Job {job_name} was deleted before it finished"
            outcome = Outcome.lost(error, now) if deleting else None
        else:
            pods = await self.kube.job_pods(job.namespace, job_name)
            outcome = classify(batch_job, pods)
        priority = (settings.priority if settings else spec.priority or Priority.NORMAL).value
        if outcome is None:
            await self.queue.hold(job.member, spec.type, priority)
            return job
        if settings is None:  # the type was unregistered while it ran
            settings = Effective(Priority.NORMAL, 0, timedelta(0), timedelta(0), 1.0, timedelta(0))
        new = lc.finished_attempt(job.status, outcome, settings, now)
        started = job.status.attempts[-1].started_at if job.status.attempts else None
        if started:
            metrics.DURATION.labels(spec.type).observe(
                max(0.0, ((outcome.finished_at or now) - started).total_seconds())
            )
        if new.phase == Phase.COMPLETED:
            metrics.COMPLETED.labels(spec.type).inc()
        elif new.phase == Phase.FAILED:
            metrics.FAILED.labels(spec.type).inc()
        elif new.phase == Phase.RETRYING:
            metrics.RETRIED.labels(spec.type).inc()
        job = await self._write(job, new, now)
        await self._forget(job.member, spec.type)
        if batch_job is not None:
            await self._release(job.namespace, batch_job)
        return job

    async def attempt_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """An attempt Job as the watch last saw it, else read from the API server."""
        cached = self.attempt_jobs.get((namespace, name))
        return cached if cached is not None else await self.kube.get_job(namespace, name)

    async def _release(self, namespace: str, batch_job: dict[str, Any]) -> None:
        """Take the outcome finalizer off an attempt Job whose outcome is recorded.

        The body (the cached one, usually) is updated too, so that nothing
        releases the same Job twice before the watch brings the new version.
        """
        meta = batch_job["metadata"]
        finalizers = meta.get("finalizers") or []
        if OUTCOME_FINALIZER in finalizers:
            await self.kube.remove_finalizer(namespace, meta["name"], OUTCOME_FINALIZER)
            meta["finalizers"] = [f for f in finalizers if f != OUTCOME_FINALIZER]

    def deleted(self, body: dict[str, Any]) -> None:
        """The watch saw ``body`` deleted: remember its attempts' Job names."""
        meta = body["metadata"]
        attempts = (body.get("status") or {}).get("attempts") or []
        names = [a["jobName"] for a in attempts if a.get("jobName")]
        self._deleted[(meta["namespace"], meta["name"])] = names

    async def _release_all(self, namespace: str, name: str) -> None:
        """The BackgroundJob is gone: its attempt Jobs keep nothing worth waiting for.

        Read from the watch's cache of attempt Jobs (no API call unless one
        still holds the finalizer): by the Job names its last status listed,
        or, not knowing them (deleted while no operator ran), by a scan where
        a Job whose owner reference was stripped (an orphaning delete) is
        known by its label.
        """
        names = self._deleted.pop((namespace, name), None)
        if names is not None:
            for job_name in names:
                cached = self.attempt_jobs.get((namespace, job_name))
                if cached is not None:
                    await self._release(namespace, cached)
            return
        label = attempt_label(name)
        for (ns, _), batch_job in list(self.attempt_jobs.items()):
            meta = batch_job["metadata"]
            if ns != namespace or OUTCOME_FINALIZER not in (meta.get("finalizers") or []):
                continue
            refs = meta.get("ownerReferences") or []
            ours = _named_owner(refs, name)
            if ours or (not refs and (meta.get("labels") or {}).get(LABEL_JOB) == label):
                await self._release(namespace, batch_job)

    async def _start_attempt(
        self, job: Job, spec: BackgroundJobSpec, settings: Effective, now: datetime, seen: datetime
    ) -> None:
        """This job holds a dispatch slot: create the attempt's Job, mark it Running."""
        handler = self.registry.current.handlers[spec.type]
        counted = job.status.queued_at is not None
        if not counted:  # queued at admission or by a rebuild, before any status write
            job.status = job.status.model_copy(update={"queued_at": min(seen, now)})
        attempt = lc.next_attempt_number(job.status)
        manifest = attempt_job(
            name=job.name,
            namespace=job.namespace,
            uid=job.body["metadata"]["uid"],
            spec=spec,
            handler=handler,
            settings=settings,
            attempt=attempt,
            created_at=now,
        )
        try:
            created, fresh = await self.kube.create_job(manifest)
        except KubeError as exc:
            if isinstance(exc, Conflict):
                raise
            await self._dispatch_later(
                job, spec, settings, now, DISPATCH_RETRY, "DispatchFailed",
                f"could not create the attempt's Job: {exc}",
            )  # fmt: skip
            return
        if not fresh and not owned_by(created, job.body["metadata"]["uid"]):
            await self._name_taken(job, spec, settings, created, now)
            return
        waiting_since = job.status.next_attempt_at or job.status.queued_at
        job = await self._write(
            job,
            lc.running(job.status, attempt=attempt, job_name=manifest["metadata"]["name"], now=now),
            now,
        )
        if not counted:
            metrics.ENQUEUED.labels(spec.type).inc()
        if fresh:
            metrics.DISPATCHED.labels(spec.type).inc()
            if waiting_since:
                metrics.QUEUE_WAIT.labels(spec.type).observe(
                    max(0.0, (now - waiting_since).total_seconds())
                )

    async def _dispatch_later(
        self,
        job: Job,
        spec: BackgroundJobSpec,
        settings: Effective,
        now: datetime,
        delay: timedelta,
        reason: str,
        message: str,
    ) -> None:
        """The attempt cannot start now: free its slot, queue it again for later, say why."""
        await self._forget(job.member, spec.type)
        at = now + delay
        if job.status.phase is None:  # admitted and dispatched, never written: say so
            job = await self._write(job, lc.queued(job.status, now=now, not_before=at), now)
            metrics.ENQUEUED.labels(spec.type).inc()
        await self.queue.enqueue(
            job.member,
            spec.type,
            settings.priority.value,
            score=self._score(job.status, settings, now),
            due=at,
            now=now,
        )
        self.kube.emit(
            job.body,
            type_="Warning",
            reason=reason,
            message=f"{message}; trying again at {at.isoformat()}",
            repeats=True,
        )
        self.wake_dispatcher()

    async def _name_taken(
        self,
        job: Job,
        spec: BackgroundJobSpec,
        settings: Effective,
        other: dict[str, Any],
        now: datetime,
    ) -> None:
        """The attempt's Job name is held by a Job that is not this object's.

        A leftover of an earlier BackgroundJob of the same name (deleted and
        created again before the garbage collector removed its Jobs) is
        deleted; anything else is left alone. Either way the slot is freed,
        the attempt tried again later, and it is reported: never a silent stall.
        """
        meta = other["metadata"]
        refs = meta.get("ownerReferences") or []
        if _named_owner(refs, job.name):
            if not meta.get("deletionTimestamp"):
                await self.kube.delete_job(job.namespace, meta["name"])
            await self._release(job.namespace, other)
            reason, delay = "StaleAttemptJob", STALE_JOB_RETRY
            message = (
                f"Job {meta['name']} belonged to an earlier BackgroundJob named {job.name} "
                "and is being deleted; the attempt starts once it is gone"
            )
        else:
            reason, delay = "JobNameTaken", NAME_TAKEN_RETRY
            message = (
                f"Job {meta['name']} exists and is not this BackgroundJob's; delete or "
                "rename it so that the attempt can start"
            )
        log.warning("%s/%s: %s", job.namespace, job.name, message)
        await self._dispatch_later(job, spec, settings, now, delay, reason, message)

    async def _enqueue(
        self,
        job: Job,
        spec: BackgroundJobSpec,
        settings: Effective,
        now: datetime,
        seen: datetime,
    ) -> None:
        counted = job.status.queued_at is not None
        if not counted:
            job.status = job.status.model_copy(update={"queued_at": min(seen, now)})
        created = parse_time(job.body["metadata"].get("creationTimestamp")) or now
        delay = parse_duration(spec.delay) if spec.delay else None
        due = lc.due_time(job.status, created, spec.run_at, delay)
        # Into its priority queue first: what is written next does not delay it.
        state = await self.queue.enqueue(
            job.member,
            spec.type,
            settings.priority.value,
            score=self._score(job.status, settings, now),
            due=due,
            now=now,
        )
        self.wake_dispatcher()
        if state == "running":  # dispatched meanwhile: start it (Queued is not written)
            raise Requeue(0, fresh=False)
        await self._write(job, lc.queued(job.status, now=now, not_before=due), now)
        if not counted:
            metrics.ENQUEUED.labels(spec.type).inc()

    def _score(self, status: BackgroundJobStatus, settings: Effective, now: datetime) -> float:
        since = status.next_attempt_at if status.phase == Phase.RETRYING else status.queued_at
        return queue_score(settings.priority, since or now, self.registry.current.aging)

    # Writes ------------------------------------------------------------------------

    async def _write(self, job: Job, new: BackgroundJobStatus, now: datetime) -> Job:
        """Patch status if it changed (optimistically); an Event on a transition (see
        :attr:`transition_events`)."""
        if job.body.get(slim.SLIM):  # a summary: the patch needs the whole object
            raise Requeue(0, fresh=True)
        generation = job.body["metadata"].get("generation")
        new = lc.with_conditions(new, now, generation)
        old_raw = job.body.get("status") or {}
        patch = merge_patch(old_raw, new)
        if not patch:
            return Job(job.body, new)
        body = await self.kube.patch_status(
            PLURAL, job.namespace, job.name, patch, job.body["metadata"].get("resourceVersion")
        )
        self.work.wrote((job.namespace, job.name), body)
        if self.phase_labels:
            body = await self._sync_labels(body, new)
        old = job.status
        if (new.phase, new.reason) == (old.phase, old.reason):
            return Job(body, status_of(body))
        log.info(
            "%s/%s: %s/%s -> %s/%s",
            job.namespace,
            job.name,
            old.phase or "-",
            old.reason or "-",
            new.phase,
            new.reason,
        )
        warning = new.reason in WARNING_REASONS
        if warning or self.transition_events:
            self.kube.emit(
                body,
                type_="Warning" if warning else "Normal",
                reason=new.reason or str(new.phase),
                message=new.message or str(new.phase),
            )
        return Job(body, status_of(body))

    async def _sync_labels(self, body: dict[str, Any], status: BackgroundJobStatus) -> Any:
        """With ``--phase-labels``: the labels say the type, priority and phase."""
        spec = body.get("spec") or {}
        priority = status.priority or spec.get("priority") or Priority.NORMAL
        want = {
            LABEL_TYPE: str(spec.get("type") or ""),
            LABEL_PRIORITY: str(priority).lower(),
            LABEL_PHASE: str(status.phase or Phase.PENDING).lower(),
        }
        labels = body["metadata"].get("labels") or {}
        if all(labels.get(k) == v for k, v in want.items()):
            return body
        meta = body["metadata"]
        out = await self.kube.patch_bgjob(
            meta["namespace"], meta["name"], {"metadata": {"labels": want}}
        )
        self.work.wrote((meta["namespace"], meta["name"]), out)
        return out

    async def _drop_stale_labels(self, job: Job) -> None:
        labels = job.body["metadata"].get("labels") or {}
        if not any(k in labels for k in PHASE_LABELS):
            return
        patch = {"metadata": {"labels": dict.fromkeys(PHASE_LABELS)}}
        body = await self.kube.patch_bgjob(job.namespace, job.name, patch)
        self.work.wrote((job.namespace, job.name), body)
        job.body = body

    async def _forget(self, member: str, job_type: str) -> None:
        if await self.queue.forget(member, job_type):
            self.wake_dispatcher()

    # Admission and rebuild ----------------------------------------------------------

    async def admit(self, body: dict[str, Any], seen_at: float) -> None:
        """A new job's first step, as its watch event arrives: into its priority queue.

        Only Redis is written (a fraction of a millisecond), so that a burst of
        new objects waiting for their first reconcile (API writes, tens of
        milliseconds each) does not hold an Urgent job behind them: the
        dispatcher sees every job's priority as soon as the operator does.
        The reconcile that follows writes the same entry again, and status.
        """
        if not self.registry.loaded or (body.get("status") or {}).get("phase"):
            return
        now = self.clock()
        entry = self.entry_for(body, now, seen=datetime.fromtimestamp(seen_at, UTC))
        if entry is None or entry.state != "queued":
            return
        await self.queue.enqueue(
            entry.member, entry.job_type, entry.priority, score=entry.score, due=entry.due, now=now
        )
        self.wake_dispatcher()

    def entry_for(
        self, body: dict[str, Any], now: datetime, *, seen: datetime | None = None
    ) -> QueueEntry | None:
        """What Redis should hold for this object (for a rebuild), if anything.

        ``seen``: when the operator first saw it (else it counts as queued at
        its creation).
        """
        registry = self.registry.current
        try:
            spec = parse_spec(body.get("spec"), registry.max_payload_bytes)
        except InvalidSpec:
            return None
        status = status_of(body)
        ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
        member = queue_member(ns, name)
        if status.phase is not None and status.phase.finished:
            kept = retention(spec, registry, from_schedule=_scheduled(body))
            if kept is not None and status.completed_at:
                return QueueEntry(
                    member, spec.type, "", "expiring", expires=status.completed_at + kept
                )
            return None
        if status.phase == Phase.RUNNING:
            # Its attempt runs, and holds a slot, whatever the registry says now.
            known = spec.type in registry.handlers
            priority = effective(spec, registry).priority if known else spec.priority
            return QueueEntry(member, spec.type, (priority or Priority.NORMAL).value, "running")
        if spec.cancel or spec.type not in registry.handlers:
            return None
        settings = effective(spec, registry)
        prio = settings.priority.value
        created = parse_time(body["metadata"].get("creationTimestamp")) or now
        if status.queued_at is None:
            status = status.model_copy(update={"queued_at": min(seen, now) if seen else created})
        delay = parse_duration(spec.delay) if spec.delay else None
        return QueueEntry(
            member,
            spec.type,
            prio,
            "queued",
            score=self._score(status, settings, now),
            due=lc.due_time(status, created, spec.run_at, delay),
        )
