"""Queue order: priority first, then FIFO; optionally, waiting jobs age upward.

A job's score (lower runs first) is its queue time in milliseconds minus its
priority level times the aging interval. With ``priorityAging: 10m`` a Normal
job that has waited 10 minutes ties with a High job queued now: each
``priorityAging`` of waiting is worth one priority level. With aging ``0s``
(strict) the interval is ~3 years, so a level always beats any wait.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bgjobs.models.common import Priority

STRICT_LEVEL_MS = 1e11  # ~3.2 years: more than any job waits


def queue_score(priority: Priority, queued_at: datetime, aging: timedelta) -> float:
    level_ms = aging.total_seconds() * 1000 or STRICT_LEVEL_MS
    return queued_at.timestamp() * 1000 - priority.level * level_ms
