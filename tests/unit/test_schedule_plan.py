"""What a JobSchedule does now (logic/schedule.plan), table-driven, fixed clock."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bgjobs.logic.cron import parse_schedule
from bgjobs.logic.schedule import MISSED_COUNTED, Plan, missed_text, plan
from bgjobs.models.jobschedule import JobScheduleSpec, JobScheduleStatus

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
TEMPLATE = {"jobTemplate": {"spec": {"type": "work", "payload": {}}}}


def run(
    expr: str = "* * * * *",
    *,
    last: datetime | None,
    active: tuple[str, ...] = (),
    runs: int = 0,
    **spec: Any,
) -> Plan:
    return plan(
        parse_schedule(expr, "UTC"),
        JobScheduleSpec.model_validate({"schedule": expr, **TEMPLATE, **spec}),
        JobScheduleStatus(last_schedule_time=last, run_count=runs),
        created=NOW - timedelta(days=90),
        active=list(active),
        now=NOW,
    )


SLOT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # the newest slot at NOW


@pytest.mark.parametrize(
    ("kwargs", "run_slot", "missed", "flags"),
    [
        # On time: the slot just passed, nothing missed.
        ({"last": SLOT - MINUTE}, SLOT, 0, {}),
        # Already handled: nothing to run, wake at the next slot.
        ({"last": SLOT}, None, 0, {}),
        # Down 3 days: only the newest runs; the others are counted, up to a limit.
        ({"last": SLOT - timedelta(days=3)}, SLOT, MISSED_COUNTED + 1, {}),
        ({"last": SLOT - 4 * MINUTE}, SLOT, 3, {}),
        # The newest missed slot is 30 s old: past a 10 s deadline, nothing runs.
        (
            {"last": SLOT - 4 * MINUTE, "startingDeadlineSeconds": 10},
            None,
            4,
            {"too_late": True},
        ),
        (
            {"last": SLOT - MINUTE, "concurrencyPolicy": "Forbid", "active": ("a",)},
            None,
            0,
            {"forbidden": True},
        ),
        (
            {"last": SLOT - MINUTE, "concurrencyPolicy": "Replace", "active": ("a",)},
            SLOT,
            0,
            {"replace": ["a"]},
        ),
        ({"last": SLOT - MINUTE, "suspend": True}, None, 0, {}),
        ({"last": SLOT - MINUTE, "maxRuns": 2, "runs": 2}, None, 0, {"done": True}),
    ],
)
def test_plan(
    kwargs: dict[str, Any], run_slot: datetime | None, missed: int, flags: dict[str, Any]
) -> None:
    got = run(**kwargs)
    assert got.run_slot == run_slot
    assert got.missed == missed
    for name, value in flags.items():
        assert getattr(got, name) == value, name
    if not kwargs.get("suspend") and not flags.get("done"):
        assert got.next_time == SLOT + MINUTE


def test_a_thirty_day_gap_is_one_step_not_43200() -> None:
    """The slots of the gap are never walked: counting stops at the limit."""
    got = run(last=SLOT - timedelta(days=30))
    assert (got.run_slot, got.last_schedule_time) == (SLOT, SLOT)
    assert missed_text(got.missed) == f"over {MISSED_COUNTED}"
    assert missed_text(3) == "3"
