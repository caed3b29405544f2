"""What a JobSchedule should do now: which slot to run, which to skip, when to wake.

Pure: the caller passes the parsed schedule, the spec, what it last did and
the clock. Semantics follow Kubernetes CronJob: after downtime only the most
recent missed slot runs, and only within ``startingDeadlineSeconds``; Forbid
skips a slot while a job runs, Replace cancels the running ones first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bgjobs.logic.cron import Schedule
from bgjobs.models.jobschedule import ConcurrencyPolicy, JobScheduleSpec, JobScheduleStatus


@dataclass
class Plan:
    run_slot: datetime | None = None  # create the job for this slot
    last_schedule_time: datetime | None = None  # the newest slot considered
    next_time: datetime | None = None  # wake up then (None: nothing to wait for)
    missed: int = 0  # older slots that were not run
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
    slots = schedule.slots_between(since, now)
    if not slots:
        return Plan(
            last_schedule_time=status.last_schedule_time,
            next_time=schedule.next_after(max(since, now)),
        )
    latest = slots[-1]
    out = Plan(
        last_schedule_time=latest,
        next_time=schedule.next_after(now),
        missed=len(slots) - 1,
    )
    deadline = spec.starting_deadline_seconds
    if deadline is not None and (now - latest).total_seconds() > deadline:
        out.too_late = True
        out.missed = len(slots)
        return out
    if active and spec.concurrency_policy == ConcurrencyPolicy.FORBID:
        out.forbidden = True
        return out
    if active and spec.concurrency_policy == ConcurrencyPolicy.REPLACE:
        out.replace = list(active)
    out.run_slot = latest
    return out
