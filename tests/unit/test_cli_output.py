"""Pure parts of the plugin: ages, tables, stats arithmetic."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bgjobs.cli.output import age, table
from bgjobs.cli.stats import capacity, job_stats
from bgjobs.client import Job

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "5s"),
        (119, "119s"),
        (600, "10m"),
        (3 * 3600 + 720, "3h12m"),
        (20 * 3600, "20h"),
        (5 * 86400, "5d"),
    ],
)
def test_age(seconds: int, text: str) -> None:
    assert age(NOW - timedelta(seconds=seconds), NOW) == text


def test_table_aligns_columns() -> None:
    assert table(["A", "LONG"], [["xx", 1], ["y", None]]).splitlines() == [
        "A    LONG",
        "xx   1",
        "y",
    ]


def job(
    phase: str,
    reason: str = "",
    completed: datetime | None = None,
    prio: str = "normal",
    queued: str | None = None,
) -> Job:
    status: dict[str, Any] = {"phase": phase, "reason": reason}
    if completed:
        status["completedAt"] = completed.isoformat()
    if queued:
        status["queuedAt"] = queued
    return Job(
        {
            "metadata": {
                "name": "j",
                "namespace": "n",
                "labels": {"bgjobs.io/priority": prio},
                "creationTimestamp": "2026-11-28T11:00:00+00:00",
            },
            "spec": {"type": "email"},
            "status": status,
        }
    )


def test_job_stats_counts_by_state() -> None:
    jobs = [
        job("Pending", "Queued", queued="2026-11-28T11:50:00+00:00"),
        job("Pending", "Queued", queued="2026-11-28T11:40:00+00:00"),
        job("Pending", "WaitingForRunAt"),
        job("Pending", "UnknownType"),
        job("Retrying", "Retrying"),
        job("Running", "Dispatched"),
        job("Completed", completed=NOW - timedelta(minutes=5)),
        job("Completed", completed=NOW - timedelta(hours=2)),
        job("Failed", completed=NOW - timedelta(minutes=1), prio="high"),
    ]
    stats = job_stats(jobs, NOW)
    normal = stats[("email", "Normal")]
    assert (normal["queued"], normal["delayed"], normal["retrying"], normal["running"]) == (
        2,
        1,
        1,
        1,
    )
    assert normal["completedLastHour"] == 1
    assert normal["oldestQueued"] == "2026-11-28T11:40:00+00:00"
    assert stats[("email", "High")]["failedLastHour"] == 1


def test_capacity_takes_the_tighter_of_the_two_caps() -> None:
    counts = {("running", "email", "Normal"): 2, ("running", "report", "Low"): 1}
    config = {"maxConcurrentJobs": 4, "concurrency": {"email": 3, "report": 0}}
    cap = capacity(config, counts)
    assert cap is not None
    assert cap["(all types)"] == {"limit": 4, "running": 3, "free": 1}
    assert cap["email"] == {"limit": 3, "running": 2, "free": 1}
    assert cap["report"] == {"limit": 0, "running": 1, "free": 1}
    assert capacity(None, counts) is None
