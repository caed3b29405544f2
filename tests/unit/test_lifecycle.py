"""The BackgroundJob state machine, table-driven, with a fixed clock."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bgjobs.logic import lifecycle as lc
from bgjobs.logic.outcome import Outcome
from bgjobs.logic.status import dump, merge_patch
from bgjobs.logic.validation import Effective
from bgjobs.models.backgroundjob import Attempt, BackgroundJobStatus
from bgjobs.models.common import Phase, Priority

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
SETTINGS = Effective(
    priority=Priority.NORMAL,
    max_retries=2,
    initial_delay=timedelta(seconds=30),
    max_delay=timedelta(minutes=10),
    backoff_factor=2.0,
    timeout=timedelta(minutes=10),
)


def outcome(ok: bool = False, permanent: bool = False, reason: str = "Error") -> Outcome:
    return Outcome(
        ok,
        permanent,
        "Completed" if ok else reason,
        "" if ok else "exit code 1",
        0 if ok else 1,
        '{"a": 1}' if ok else "",
        "pod-1",
        NOW,
    )


def running(retry_count: int = 0, attempt: int = 1) -> BackgroundJobStatus:
    status = BackgroundJobStatus(phase=Phase.RUNNING, retry_count=retry_count)
    return lc.running(status, attempt=attempt, job_name=f"j-a{attempt}", now=NOW)


@pytest.mark.parametrize(
    ("retry_count", "result", "phase", "reason"),
    [
        (0, outcome(ok=True), Phase.COMPLETED, "Completed"),
        (0, outcome(permanent=True, reason="PermanentFailure"), Phase.FAILED, "PermanentFailure"),
        (0, outcome(), Phase.RETRYING, "Retrying"),
        (1, outcome(reason="OOMKilled"), Phase.RETRYING, "Retrying"),
        (2, outcome(), Phase.FAILED, "BackoffLimitExceeded"),
        (2, outcome(reason="DeadlineExceeded"), Phase.FAILED, "BackoffLimitExceeded"),
    ],
)
def test_finished_attempt(retry_count: int, result: Outcome, phase: Phase, reason: str) -> None:
    new = lc.finished_attempt(running(retry_count), result, SETTINGS, NOW)
    assert (new.phase, new.reason) == (phase, reason)
    assert new.attempts[-1].exit_code == result.exit_code
    assert new.attempts[-1].finished_at == NOW


def test_retry_is_scheduled_by_the_backoff_formula() -> None:
    first = lc.finished_attempt(running(0), outcome(), SETTINGS, NOW)
    second = lc.finished_attempt(running(1, attempt=2), outcome(), SETTINGS, NOW)
    assert first.retry_count == 1
    assert first.next_attempt_at == NOW + timedelta(seconds=30)
    assert second.next_attempt_at == NOW + timedelta(seconds=60)


def test_success_parses_the_result() -> None:
    new = lc.finished_attempt(running(), outcome(ok=True), SETTINGS, NOW)
    assert new.result == {"a": 1}
    assert new.completed_at == NOW


def test_attempt_numbers_keep_growing_across_a_manual_retry() -> None:
    failed = BackgroundJobStatus(
        phase=Phase.FAILED,
        retry_count=2,
        attempts=[Attempt(attempt=n, job_name=f"j-a{n}") for n in (1, 2, 3)],
    )
    again = lc.manual_retry(failed, "token-1")
    assert (again.phase, again.retry_count, again.handled_retry) == (Phase.PENDING, 0, "token-1")
    assert lc.next_attempt_number(again) == 4
    assert len(again.attempts) == 3


def test_history_is_capped() -> None:
    status = BackgroundJobStatus(
        attempts=[Attempt(attempt=n, job_name=f"j-a{n}") for n in range(1, 11)]
    )
    new = lc.running(status, attempt=11, job_name="j-a11", now=NOW)
    assert [a.attempt for a in new.attempts] == list(range(2, 12))


def test_status_patch_sends_changes_and_removals_only() -> None:
    old = dump(lc.queued(BackgroundJobStatus(), now=NOW, not_before=None))
    new = lc.running(BackgroundJobStatus.model_validate(old), attempt=1, job_name="j-a1", now=NOW)
    patch = merge_patch(old, new)
    assert patch["phase"] == "Running"
    assert "queuedAt" not in patch
    assert merge_patch(dump(new), new) == {}
    cleared = new.model_copy(update={"job_name": None})
    assert merge_patch(dump(new), cleared)["jobName"] is None


def test_conditions_follow_the_phase_and_keep_transition_times() -> None:
    queued = lc.with_conditions(lc.queued(BackgroundJobStatus(), now=NOW, not_before=None), NOW, 1)
    later = NOW + timedelta(seconds=5)
    again = lc.with_conditions(queued, later, 1)
    by_type = {c.type: c for c in again.conditions}
    assert by_type["Queued"].status == "True"
    assert by_type["Queued"].last_transition_time == NOW
    run = lc.with_conditions(lc.running(again, attempt=1, job_name="j", now=later), later, 1)
    flipped = {c.type: c for c in run.conditions}
    assert flipped["Running"].status == "True"
    assert flipped["Queued"].last_transition_time == later


@pytest.mark.parametrize(
    ("not_before", "reason"),
    [(None, "Queued"), (NOW + timedelta(minutes=1), "WaitingForRunAt"), (NOW, "Queued")],
)
def test_queued_reason(not_before: datetime | None, reason: str) -> None:
    assert lc.queued(BackgroundJobStatus(), now=NOW, not_before=not_before).reason == reason


RETRYING = BackgroundJobStatus(
    phase=Phase.RETRYING,
    reason="Retrying",
    message="attempt failed (Error); retry 1 of 2",
    retry_count=1,
    queued_at=NOW - timedelta(minutes=5),
    next_attempt_at=NOW + timedelta(seconds=30),
)


@pytest.mark.parametrize(
    ("status", "step", "phase", "reason", "error"),
    [
        pytest.param(
            BackgroundJobStatus(), lambda s: lc.invalid(s, "spec.type: bad", NOW),
            Phase.FAILED, "InvalidSpec", "spec.type: bad", id="invalid-fails-at-once",
        ),
        pytest.param(
            RETRYING, lambda s: lc.invalid(s, "spec.payload: too big", NOW),
            Phase.FAILED, "InvalidSpec", "spec.payload: too big", id="invalid-while-retrying",
        ),
        pytest.param(
            RETRYING, lambda s: lc.cancelled(s, NOW),
            Phase.CANCELLED, "Cancelled", None, id="cancel-while-retrying",
        ),
        pytest.param(
            BackgroundJobStatus(phase=Phase.PENDING), lambda s: lc.cancelled(s, NOW),
            Phase.CANCELLED, "Cancelled", None, id="cancel-while-queued",
        ),
    ],
)  # fmt: skip
def test_a_final_phase_completes_now_and_waits_for_nothing(
    status: BackgroundJobStatus,
    step: Callable[[BackgroundJobStatus], BackgroundJobStatus],
    phase: Phase,
    reason: str,
    error: str | None,
) -> None:
    new = step(status)
    assert (new.phase, new.reason, new.error) == (phase, reason, error)
    assert new.phase is not None
    assert new.phase.finished
    assert (new.completed_at, new.next_attempt_at) == (NOW, None)
    assert new.message


def test_an_unknown_type_waits_pending_for_a_handler() -> None:
    new = lc.unknown_type(BackgroundJobStatus(), "sms")
    assert (new.phase, new.reason) == (Phase.PENDING, "UnknownType")
    assert new.message is not None
    assert "'sms'" in new.message
    assert new.completed_at is None


def test_a_retrying_job_queued_again_stays_retrying_and_keeps_its_place() -> None:
    new = lc.queued(RETRYING, now=NOW, not_before=RETRYING.next_attempt_at)
    assert (new.phase, new.reason, new.message) == (Phase.RETRYING, "Retrying", RETRYING.message)
    assert new.queued_at == RETRYING.queued_at


CREATED = NOW - timedelta(minutes=1)


@pytest.mark.parametrize(
    ("status", "run_at", "delay", "due"),
    [
        pytest.param(BackgroundJobStatus(), None, None, None, id="now"),
        pytest.param(
            BackgroundJobStatus(), NOW + timedelta(hours=1), None, NOW + timedelta(hours=1),
            id="run-at",
        ),
        pytest.param(
            BackgroundJobStatus(), None, timedelta(minutes=5), CREATED + timedelta(minutes=5),
            id="delay-counts-from-creation",
        ),
        # A retry waits for its backoff, not for the first attempt's runAt or delay.
        pytest.param(
            RETRYING, NOW - timedelta(hours=1), None, RETRYING.next_attempt_at,
            id="retry-backoff-over-run-at",
        ),
        pytest.param(
            RETRYING, None, timedelta(minutes=5), RETRYING.next_attempt_at,
            id="retry-backoff-over-delay",
        ),
    ],
)  # fmt: skip
def test_when_the_next_attempt_may_start(
    status: BackgroundJobStatus,
    run_at: datetime | None,
    delay: timedelta | None,
    due: datetime | None,
) -> None:
    assert lc.due_time(status, CREATED, run_at, delay) == due
