"""The BackgroundJob state machine, as pure functions of (status, facts, now).

Each function returns a new status; the caller diffs it against the old one
(:func:`bgjobs.logic.status.merge_patch`) and writes only what changed. Nothing here does I/O.

    (new) ─▶ Pending ─▶ Running ─▶ Completed
               ▲  │        │ ▲
               │  │        ▼ │ (retryable failure, retries left)
               │  │      Retrying
               │  ▼        │
        retry  Cancelled  ▼ (permanent, or retries exhausted)
               └──────── Failed
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bgjobs.logic.backoff import retry_delay
from bgjobs.logic.outcome import Outcome
from bgjobs.logic.status import condition
from bgjobs.logic.validation import Effective
from bgjobs.models.backgroundjob import Attempt, BackgroundJobStatus
from bgjobs.models.common import Phase
from bgjobs.vocabulary import JOB_CONDITIONS, RETRY_ANNOTATION

MAX_ATTEMPTS_KEPT = 10


def _with(status: BackgroundJobStatus, **changes: Any) -> BackgroundJobStatus:
    return status.model_copy(update=changes, deep=True)


def _finish(
    status: BackgroundJobStatus, phase: Phase, reason: str, message: str, now: datetime, **more: Any
) -> BackgroundJobStatus:
    """A final phase: completed now, nothing left to wait for."""
    return _with(
        status,
        phase=phase,
        reason=reason,
        message=message,
        completed_at=now,
        next_attempt_at=None,
        **more,
    )


def next_attempt_number(status: BackgroundJobStatus) -> int:
    """Attempt numbers only grow, across manual retries too: Job names never repeat."""
    return (status.attempts[-1].attempt if status.attempts else 0) + 1


def invalid(status: BackgroundJobStatus, message: str, now: datetime) -> BackgroundJobStatus:
    return _finish(status, Phase.FAILED, "InvalidSpec", message, now, error=message)


def unknown_type(status: BackgroundJobStatus, job_type: str) -> BackgroundJobStatus:
    return _with(
        status,
        phase=Phase.PENDING,
        reason="UnknownType",
        message=f"no handler is registered for type {job_type!r}; waiting for one",
    )


def queued(
    status: BackgroundJobStatus, *, now: datetime, not_before: datetime | None
) -> BackgroundJobStatus:
    """Waiting for a dispatch slot (or for ``not_before``)."""
    waiting = not_before is not None and not_before > now
    if status.phase == Phase.RETRYING:
        reason, message = "Retrying", status.message
    elif waiting:
        assert not_before is not None
        reason = "WaitingForRunAt"
        message = f"waiting until {not_before.isoformat()}"
    else:
        reason, message = "Queued", "waiting for a free dispatch slot"
    return _with(
        status,
        phase=status.phase if status.phase == Phase.RETRYING else Phase.PENDING,
        reason=reason,
        message=message,
        queued_at=status.queued_at or now,
    )


def running(
    status: BackgroundJobStatus, *, attempt: int, job_name: str, now: datetime
) -> BackgroundJobStatus:
    attempts = [a for a in status.attempts if a.attempt != attempt]
    attempts.append(Attempt(attempt=attempt, job_name=job_name, started_at=now))
    return _with(
        status,
        phase=Phase.RUNNING,
        reason="Dispatched",
        message=f"attempt {attempt} running as Job {job_name}",
        started_at=status.started_at or now,
        next_attempt_at=None,
        job_name=job_name,
        attempts=attempts[-MAX_ATTEMPTS_KEPT:],
    )


def finished_attempt(
    status: BackgroundJobStatus, outcome: Outcome, settings: Effective, now: datetime
) -> BackgroundJobStatus:
    """Record the attempt and move to Completed, Retrying or Failed."""
    attempts = list(status.attempts)
    if attempts:
        last = attempts[-1]
        attempts[-1] = last.model_copy(
            update={
                "pod_name": outcome.pod_name,
                "finished_at": outcome.finished_at or now,
                "exit_code": outcome.exit_code,
                "reason": outcome.reason,
                "message": (outcome.error or outcome.message)[:1024] or None,
            }
        )
    base = _with(status, attempts=attempts)
    if outcome.succeeded:
        number = status.attempts[-1].attempt if status.attempts else 1
        message = f"attempt {number} succeeded"
        return _finish(
            base, Phase.COMPLETED, "Completed", message, now, result=outcome.result, error=None
        )
    if outcome.permanent:
        message = "the handler reported a permanent failure; not retried"
        return _finish(base, Phase.FAILED, "PermanentFailure", message, now, error=outcome.error)
    if status.retry_count >= settings.max_retries:
        message = f"failed after {status.retry_count} retries ({outcome.reason})"
        return _finish(
            base, Phase.FAILED, "BackoffLimitExceeded", message, now, error=outcome.error
        )
    retry = status.retry_count + 1
    delay = retry_delay(
        retry,
        initial_delay=settings.initial_delay,
        max_delay=settings.max_delay,
        backoff_factor=settings.backoff_factor,
    )
    at = now + delay
    return _with(
        base,
        phase=Phase.RETRYING,
        reason="Retrying",
        message=f"attempt failed ({outcome.reason}); retry {retry} of {settings.max_retries} "
        f"at {at.isoformat()}",
        error=outcome.error,
        retry_count=retry,
        next_attempt_at=at,
    )


def cancelled(status: BackgroundJobStatus, now: datetime) -> BackgroundJobStatus:
    return _finish(status, Phase.CANCELLED, "Cancelled", "cancelled by spec.cancel", now)


def manual_retry(status: BackgroundJobStatus, token: str) -> BackgroundJobStatus:
    """Back to Pending after the ``bgjobs.io/retry`` annotation; history is kept."""
    return _with(
        status,
        phase=Phase.PENDING,
        reason="ManualRetry",
        message=f"retry requested with the {RETRY_ANNOTATION} annotation",
        retry_count=0,
        queued_at=None,
        completed_at=None,
        next_attempt_at=None,
        error=None,
        result=None,
        handled_retry=token,
    )


def with_conditions(
    status: BackgroundJobStatus, now: datetime, generation: int | None
) -> BackgroundJobStatus:
    """Conditions derived from the phase; a transition time moves only on a flip."""
    phase = status.phase
    truth = {
        "Queued": phase in (Phase.PENDING, Phase.RETRYING),
        "Running": phase == Phase.RUNNING,
        "Succeeded": phase == Phase.COMPLETED,
        "Failed": phase == Phase.FAILED,
    }
    old = {c.type: c for c in status.conditions}
    out = [
        condition(
            old.get(ctype),
            ctype,
            "True" if truth[ctype] else "False",
            reason=(status.reason or "Unknown") if truth[ctype] else str(phase or "Unknown"),
            message=(status.message or "") if truth[ctype] else "",
            now=now,
            generation=generation,
        )
        for ctype in JOB_CONDITIONS
    ]
    return _with(status, conditions=out, observed_generation=generation)


def due_time(
    status: BackgroundJobStatus, created: datetime, run_at: datetime | None, delay: timedelta | None
) -> datetime | None:
    """When the next attempt may start, if that is not "now"."""
    if status.phase == Phase.RETRYING and status.next_attempt_at:
        return status.next_attempt_at
    if run_at is not None:
        return run_at
    if delay is not None:
        return created + delay
    return None
