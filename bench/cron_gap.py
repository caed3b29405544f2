"""Benchmark: what a JobSchedule's reconcile costs after a gap, by gap length.

``plan()`` (the scheduler's decision) for a ``* * * * *`` schedule in
Europe/Berlin whose last run was 1 minute, 1 day or 30 days ago, against
walking every slot of the gap (what the scheduler did before; the baseline,
run in the same process). Prints milliseconds per call and ratios: about 1
between 1 day and 30 days means the gap's length does not matter (a
1-minute gap is cheaper still: no missed slot to count).

    .venv/bin/python -m bench.cron_gap [--repeat 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bgjobs.logic.cron import parse_schedule
from bgjobs.logic.schedule import plan
from bgjobs.models.jobschedule import JobScheduleSpec, JobScheduleStatus

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
GAPS = {"1 minute": timedelta(minutes=1), "1 day": timedelta(days=1), "30 days": timedelta(days=30)}


def per_call_ms(fn: Callable[[], object], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=200, help="calls per figure")
    args = parser.parse_args()
    schedule = parse_schedule("* * * * *", "Europe/Berlin")
    spec = JobScheduleSpec.model_validate(
        {"schedule": "* * * * *", "jobTemplate": {"spec": {"type": "work", "payload": {}}}}
    )
    print(f"{'gap':<10} {'plan() ms':>10} {'walk every slot ms':>20}")
    figures = {}
    for label, gap in GAPS.items():
        status = JobScheduleStatus(last_schedule_time=NOW - gap)

        def decide(status: JobScheduleStatus = status, since: datetime = NOW - gap) -> object:
            return plan(schedule, spec, status, created=since, active=[], now=NOW)

        figures[label] = per_call_ms(decide, args.repeat)
        # The walk is slow for long gaps: fewer repetitions, same per-call figure.
        walk_repeat = max(1, args.repeat // max(1, int(gap / timedelta(minutes=1)) // 10))

        def walk(gap: timedelta = gap) -> object:
            return schedule.slots_between(NOW - gap, NOW)

        walked = per_call_ms(walk, walk_repeat)
        print(f"{label:<10} {figures[label]:>10.3f} {walked:>20.1f}")
    # Past MISSED_COUNTED missed slots, the gap's length no longer matters.
    print(f"ratio plan(30 days) / plan(1 day):    {figures['30 days'] / figures['1 day']:.2f}")
    print(f"ratio plan(30 days) / plan(1 minute): {figures['30 days'] / figures['1 minute']:.2f}")


if __name__ == "__main__":
    main()
