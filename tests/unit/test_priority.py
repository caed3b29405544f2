"""Queue order: priority first, then first in first out; with priorityAging,
each interval of waiting is worth one priority level."""

from datetime import UTC, datetime, timedelta

import pytest

from bgjobs.logic.priority import queue_score
from bgjobs.models.common import Priority

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
STRICT = timedelta(0)
TEN_MINUTES = timedelta(minutes=10)
LOW, NORMAL, HIGH, URGENT = Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT

# (priority, how long ago it was queued)
Waiting = tuple[Priority, timedelta]


@pytest.mark.parametrize(
    ("first", "then", "aging"),
    [
        pytest.param((HIGH, timedelta(0)), (NORMAL, timedelta(0)), STRICT, id="level-wins"),
        pytest.param((URGENT, timedelta(0)), (LOW, timedelta(0)), STRICT, id="urgent-before-low"),
        pytest.param(
            (HIGH, timedelta(0)), (NORMAL, timedelta(days=365)), STRICT, id="strict-any-wait"
        ),
        pytest.param(
            (NORMAL, timedelta(seconds=1)), (NORMAL, timedelta(0)), STRICT, id="fifo-in-a-level"
        ),
        pytest.param(
            (LOW, timedelta(milliseconds=1)), (LOW, timedelta(0)), STRICT, id="fifo-by-the-ms"
        ),
        pytest.param(
            (NORMAL, timedelta(minutes=11)), (HIGH, timedelta(0)), TEN_MINUTES, id="aged-past"
        ),
        pytest.param(
            (HIGH, timedelta(0)), (NORMAL, timedelta(minutes=9)), TEN_MINUTES, id="not-aged-yet"
        ),
        pytest.param(
            (LOW, timedelta(minutes=31)), (URGENT, timedelta(0)), TEN_MINUTES, id="three-levels"
        ),
        pytest.param(
            (HIGH, timedelta(minutes=5)), (HIGH, timedelta(0)), TEN_MINUTES, id="aging-keeps-fifo"
        ),
    ],
)
def test_which_job_runs_first(first: Waiting, then: Waiting, aging: timedelta) -> None:
    def score(job: Waiting) -> float:
        priority, waited = job
        return queue_score(priority, NOW - waited, aging)

    assert score(first) < score(then)


@pytest.mark.parametrize(
    ("older", "newer", "waited"),
    [
        pytest.param(NORMAL, HIGH, timedelta(minutes=10), id="one-level-one-interval"),
        pytest.param(LOW, URGENT, timedelta(minutes=30), id="three-levels-three-intervals"),
    ],
)
def test_waiting_one_aging_interval_is_worth_one_level(
    older: Priority, newer: Priority, waited: timedelta
) -> None:
    assert queue_score(older, NOW - waited, TEN_MINUTES) == queue_score(newer, NOW, TEN_MINUTES)
