"""What a JobSchedule should do now: which jobs to create, cancel and prune,
what to say, what status to write and when to wake.

Pure: the caller passes what it read (the object, its BackgroundJobs, the
clock); :func:`decide` returns a :class:`Decision` that the runtime carries
out. Semantics follow Kubernetes CronJob: after downtime only the most recent
missed slot runs, and only within ``startingDeadlineSeconds``; Forbid skips a
slot while a job runs, Replace cancels the running ones first. A manual run
(the ``bgjobs.io/run-now`` annotation) runs also while suspended, and counts
towards ``maxRuns``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError

from bgjobs.logic.cron import Schedule, ScheduleError, parse_schedule
from bgjobs.logic.naming import run_now_job_name, slot_job_name
from bgjobs.logic.status import Truth, condition
from bgjobs.models.common import FINISHED_PHASES, Phase, parse_time
from bgjobs.models.jobschedule import (
    ActiveJob,
    ConcurrencyPolicy,
    JobScheduleSpec,
    JobScheduleStatus,
)
from bgjobs.models.registry import format_errors
from bgjobs.vocabulary import READY, RUN_NOW_ANNOTATION

# Missed slots are counted for the MissedSchedule event up to this many.
MISSED_COUNTED = 10


@dataclass
class Plan:
    run_slot: datetime | None = None  # create the job for this slot
    last_schedule_time: datetime | None = None  # the newest slot considered
    next_time: datetime | None = None  # wake up then (None: nothing to wait for)
    missed: int = 0  # slots not run; over MISSED_COUNTED means "more than that"
    too_late: bool = False  # the newest missed slot is past startingDeadlineSeconds
    forbidden: bool = False  # skipped: a job still runs and the policy is Forbid
    replace: list[str] = field(default_factory=list)  # active jobs to cancel first
    done: bool = False  # maxRuns reached


def plan(
    schedule: Schedule,
    spec: JobScheduleSpec,
    status: JobScheduleStatus,
    *,
    created: datetime,
    active: list[str],
    now: datetime,
) -> Plan:
    if spec.max_runs and status.run_count >= spec.max_runs:
        return Plan(last_schedule_time=status.last_schedule_time, done=True)
    since = status.last_schedule_time or created
    if spec.suspend:
        return Plan(last_schedule_time=status.last_schedule_time)
    # Constant time whatever the gap: the newest due slot, and how many older
    # ones were missed (counted up to MISSED_COUNTED).
    latest = schedule.latest_at_or_before(now)
    if latest is None or latest <= since:
        return Plan(
            last_schedule_time=status.last_schedule_time,
            next_time=schedule.next_after(max(since, now)),
        )
    out = Plan(
        last_schedule_time=latest,
        next_time=schedule.next_after(now),
        missed=schedule.count_between(since, latest, limit=MISSED_COUNTED + 1),
    )
    deadline = spec.starting_deadline_seconds
    if deadline is not None and (now - latest).total_seconds() > deadline:
        out.too_late = True
        out.missed += 1
        return out
    if active and spec.concurrency_policy == ConcurrencyPolicy.FORBID:
        out.forbidden = True
        return out
    if active and spec.concurrency_policy == ConcurrencyPolicy.REPLACE:
        out.replace = list(active)
    out.run_slot = latest
    return out


def missed_text(missed: int) -> str:
    """``missed`` for people: counting stopped at MISSED_COUNTED."""
    return f"over {MISSED_COUNTED}" if missed > MISSED_COUNTED else str(missed)


@dataclass(frozen=True)
class Child:
    """One of the schedule's BackgroundJobs, as far as the schedule cares."""

    name: str
    phase: str
    completed_at: datetime | None
    created_at: datetime | None = None

    @classmethod
    def of(cls, body: dict[str, Any]) -> Child:
        status = body.get("status") or {}
        return cls(
            name=body["metadata"]["name"],
            phase=str(status.get("phase") or ""),
            completed_at=parse_time(status.get("completedAt")),
            created_at=parse_time(body["metadata"].get("creationTimestamp")),
        )

    @property
    def active(self) -> bool:
        return self.phase not in FINISHED_PHASES


@dataclass(frozen=True)
class Run:
    """A BackgroundJob to create: for a slot, or for a run-now request."""

    name: str
    scheduled_time: datetime
    why: Literal["slot", "run-now"]


@dataclass(frozen=True)
class Say:
    """An Event to post about the schedule."""

    type_: Literal["Normal", "Warning"]
    reason: str
    message: str
    repeats: bool = False


@dataclass
class Decision:
    runs: list[Run] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)  # before the runs (Replace)
    prune: list[str] = field(default_factory=list)  # past the history limits
    say: list[Say] = field(default_factory=list)
    status: JobScheduleStatus = field(default_factory=JobScheduleStatus)
    spec: JobScheduleSpec | None = None  # None: the spec is invalid
    wake_at: datetime | None = None  # None: no timer
    listed_active: frozenset[str] = frozenset()  # unfinished jobs among those read

    def status_after(self, created: set[str]) -> JobScheduleStatus:
        """The status to write once the runs were tried: a run whose job existed
        already (an earlier reconcile made it) is active only if it was read so."""
        stale = {r.name for r in self.runs} - created - self.listed_active
        active = [a for a in self.status.active if a.name not in stale]
        return self.status.model_copy(update={"active": active})


def decide(
    body: dict[str, Any],
    children: list[Child],
    now: datetime,
    *,
    made: frozenset[Run] = frozenset(),
) -> Decision:
    """Everything a reconcile of the JobSchedule ``body`` does, given its jobs.

    ``made``: runs this reconcile created already, before its status write met
    a newer version; those ``body``'s status does not count yet are counted.
    """
    meta = body["metadata"]
    generation = meta.get("generation")
    try:
        status = JobScheduleStatus.model_validate(body.get("status") or {})
    except ValidationError:
        status = JobScheduleStatus()
    prev = next((c for c in status.conditions if c.type == READY), None)

    def ready(value: Truth, reason: str, message: str) -> JobScheduleStatus:
        cond = condition(prev, READY, value, reason, message, now, generation)
        return out.status.model_copy(
            update={"conditions": [cond], "observed_generation": generation}
        )

    out = Decision(status=status)
    try:
        spec = JobScheduleSpec.model_validate(body.get("spec") or {})
        schedule = parse_schedule(spec.schedule, spec.time_zone)
    except (ValidationError, ScheduleError) as exc:
        message = format_errors(exc, "spec.") if isinstance(exc, ValidationError) else str(exc)
        out.status = status.model_copy(update={"next_schedule_time": None})
        out.status = ready("False", "InvalidSchedule", message)
        return out

    out.spec = spec
    name = meta["name"]
    active = sorted(c.name for c in children if c.active)
    out.listed_active = frozenset(active)
    done = {run.name for run in made}
    # The newest slot's own job (made by an earlier reconcile whose status write
    # was lost) and the runs made by this one are not others running: Forbid
    # does not skip for them, Replace does not cancel them.
    latest = schedule.latest_at_or_before(now)
    own = {slot_job_name(name, latest)} if latest is not None else set()
    others = [a for a in active if a not in done | own]
    created = parse_time(meta.get("creationTimestamp")) or now
    step = plan(schedule, spec, status, created=created, active=others, now=now)
    runs = status.run_count + sum(1 for run in made if not _counted(run, name, status))

    def runs_left() -> bool:
        return not spec.max_runs or runs < spec.max_runs

    token = (meta.get("annotations") or {}).get(RUN_NOW_ANNOTATION)
    handled_run_now = status.handled_run_now
    if token and token != status.handled_run_now:
        run = Run(run_now_job_name(name, token), now, "run-now")
        if run.name in done:
            out.runs.append(run)  # made already, and counted
        elif runs_left():
            out.runs.append(run)
            runs += 1
        else:
            out.say.append(
                Say(
                    "Warning",
                    "RunNowRefused",
                    f"run-now {token!r} ignored: all {spec.max_runs} runs (maxRuns) done",
                )
            )
        handled_run_now = token
    if step.replace and runs_left():  # only to make room for the slot's run
        out.cancel = list(step.replace)
        out.say.append(
            Say(
                "Normal",
                "Replaced",
                f"cancelled {', '.join(step.replace)} (concurrencyPolicy Replace)",
            )
        )
    if step.run_slot is not None:
        slot = Run(slot_job_name(name, step.run_slot), step.run_slot, "slot")
        if slot.name in done:
            out.runs.append(slot)  # made already, and counted
        elif runs_left():  # a run-now may have taken the last
            out.runs.append(slot)
            runs += 1
    active += [r.name for r in out.runs] + sorted(done)
    if step.missed or step.too_late:
        why = (
            f"the newest was {(now - step.last_schedule_time).total_seconds():.0f}s ago, "
            f"past startingDeadlineSeconds {spec.starting_deadline_seconds}"
            if step.too_late and step.last_schedule_time
            else "only the newest missed run is started"
        )
        out.say.append(
            Say(
                "Warning",
                "MissedSchedule",
                f"skipped {missed_text(step.missed)} missed run(s): {why}",
            )
        )
    if step.forbidden:
        out.say.append(
            Say(
                "Warning",
                "SkippedForbid",
                f"skipped the run at {step.last_schedule_time}: "
                f"{', '.join(others)} still running (concurrencyPolicy Forbid)",
                repeats=True,
            )
        )
    out.prune = prune(children, spec)
    successes = [c.completed_at for c in children if c.phase == Phase.COMPLETED and c.completed_at]
    if status.last_successful_time:
        successes.append(status.last_successful_time)
    out.status = status.model_copy(
        update={
            "last_schedule_time": step.last_schedule_time,
            "next_schedule_time": step.next_time,
            "last_successful_time": max(successes, default=None),
            "run_count": runs,
            "active": [ActiveJob(name=n) for n in sorted(set(active))],
            "handled_run_now": handled_run_now,
        }
    )
    if spec.suspend:
        out.status = ready(
            "True", "Suspended", "suspended: no new runs until spec.suspend is false"
        )
    elif step.done or not runs_left():
        out.status = ready("True", "MaxRunsReached", f"all {spec.max_runs} runs done")
    else:
        out.status = ready("True", "Scheduled", f"next run at {step.next_time}")
    out.wake_at = step.next_time
    return out


def _counted(run: Run, schedule: str, status: JobScheduleStatus) -> bool:
    """``status`` counts ``run`` already (another writer recorded it)."""
    if run.why == "slot":
        last = status.last_schedule_time
        return last is not None and run.scheduled_time <= last
    handled = status.handled_run_now
    return handled is not None and run.name == run_now_job_name(schedule, handled)


def prune(children: list[Child], spec: JobScheduleSpec) -> list[str]:
    """The finished jobs past the history limits, oldest first."""
    completed = [c for c in children if c.phase == Phase.COMPLETED]
    failed = [c for c in children if c.phase in (Phase.FAILED, Phase.CANCELLED)]
    out: list[str] = []
    for group, limit in (
        (completed, spec.successful_jobs_history_limit),
        (failed, spec.failed_jobs_history_limit),
    ):
        group.sort(key=lambda c: c.completed_at or c.created_at or _EPOCH)
        out += [c.name for c in group[: max(0, len(group) - limit)]]
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
