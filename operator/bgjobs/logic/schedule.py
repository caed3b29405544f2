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
