"""Next-run computation, table-driven with fixed instants (no real clock)."""

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bgjobs.logic.cron import ScheduleError, parse_schedule

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(
    zone: ZoneInfo,
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    *,
    fold: int = 0,
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold).astimezone(UTC)


@pytest.mark.parametrize(
    ("expr", "tz", "after", "expected"),
    [
        ("*/15 * * * *", "UTC", utc(2026, 11, 28, 10, 7), utc(2026, 11, 28, 10, 15)),
        ("0 9 * * *", "UTC", utc(2026, 11, 28, 9, 0), utc(2026, 11, 29, 9, 0)),
        ("0 9 * * 1-5", "UTC", utc(2026, 11, 27, 10, 0), utc(2026, 11, 30, 9, 0)),  # Fri → Mon
        ("30 8 1 * *", "UTC", utc(2026, 11, 28), utc(2026, 12, 1, 8, 30)),
        ("0 0 13 * 5", "UTC", utc(2026, 11, 28), utc(2026, 12, 4)),  # dom OR dow
        ("0 9 * * *", "Europe/Berlin", utc(2026, 11, 28, 7, 0), utc(2026, 11, 28, 8, 0)),
        ("0 9 * * *", "America/New_York", utc(2026, 7, 1, 12), utc(2026, 7, 1, 13)),
        ("@hourly", "UTC", utc(2026, 11, 28, 10, 0), utc(2026, 11, 28, 11, 0)),
        ("@daily", "UTC", utc(2026, 11, 28, 10, 0), utc(2026, 11, 29)),
        ("@midnight", "Europe/Berlin", utc(2026, 11, 28, 10), utc(2026, 11, 28, 23)),
        ("@weekly", "UTC", utc(2026, 11, 28), utc(2026, 11, 29)),  # Sunday
        ("@monthly", "UTC", utc(2026, 11, 28), utc(2026, 12, 1)),
        ("@yearly", "UTC", utc(2026, 11, 28), utc(2027, 1, 1)),
        ("@annually", "UTC", utc(2026, 11, 28), utc(2027, 1, 1)),
        # leap days: the next 29 February is in 2028
        ("0 0 29 2 *", "UTC", utc(2026, 11, 28), utc(2028, 2, 29)),
        ("0 12 29 2 *", "UTC", utc(2028, 2, 29, 12), utc(2032, 2, 29, 12)),
        # @every: multiples of the interval since the epoch
        ("@every 5s", "UTC", utc(2026, 11, 28, 10, 0, 3), utc(2026, 11, 28, 10, 0, 5)),
        ("@every 5s", "UTC", utc(2026, 11, 28, 10, 0, 5), utc(2026, 11, 28, 10, 0, 10)),
        ("@every 1h30m", "Europe/Berlin", utc(2026, 11, 28, 10, 0), utc(2026, 11, 28, 10, 30)),
    ],
)
def test_next_run(expr: str, tz: str, after: datetime, expected: datetime) -> None:
    assert parse_schedule(expr, tz).next_after(after) == expected


# Spring forward: Berlin 2026-03-29 02:00 CET → 03:00 CEST;
#                 New York 2026-03-08 02:00 EST → 03:00 EDT.
# Fall back: Berlin 2026-10-25 03:00 CEST → 02:00 CET; New York 2026-11-01 02:00 EDT → 01:00 EST.
DST = [
    # a fixed time in the skipped hour runs once, at the end of the gap
    ("30 2 * * *", BERLIN, (2026, 3, 28, 12), [(2026, 3, 29, 3, 0), (2026, 3, 30, 2, 30)]),
    ("30 2 * * *", NEW_YORK, (2026, 3, 7, 12), [(2026, 3, 8, 3, 0), (2026, 3, 9, 2, 30)]),
    # hour wildcard: the missing hour has no runs, the others are untouched
    ("30 * * * *", BERLIN, (2026, 3, 29, 1, 0), [(2026, 3, 29, 1, 30), (2026, 3, 29, 3, 30)]),
    # a fixed time in the repeated hour runs once, at its first occurrence
    ("30 2 * * *", BERLIN, (2026, 10, 24, 12), [(2026, 10, 25, 2, 30), (2026, 10, 26, 2, 30)]),
    ("30 1 * * *", NEW_YORK, (2026, 10, 31, 12), [(2026, 11, 1, 1, 30), (2026, 11, 2, 1, 30)]),
    # times outside the transition are not disturbed
    ("0 9 * * *", BERLIN, (2026, 3, 28, 12), [(2026, 3, 29, 9, 0), (2026, 3, 30, 9, 0)]),
]


@pytest.mark.parametrize(("expr", "zone", "start", "wall_times"), DST)
def test_dst_transitions(
    expr: str, zone: ZoneInfo, start: tuple[int, ...], wall_times: list[tuple[int, ...]]
) -> None:
    sched = parse_schedule(expr, zone.key)
    t = local(zone, *start)
    got = []
    for _ in wall_times:
        t = sched.next_after(t)
        got.append(t)
    assert got == [local(zone, *w) for w in wall_times]


def test_hour_wildcard_runs_in_both_repeated_hours() -> None:
    sched = parse_schedule("30 * * * *", "Europe/Berlin")
    t = local(BERLIN, 2026, 10, 25, 1, 45)
    runs = []
    for _ in range(3):
        t = sched.next_after(t)
        runs.append(t)
    assert runs == [
        local(BERLIN, 2026, 10, 25, 2, 30, fold=0),
        local(BERLIN, 2026, 10, 25, 2, 30, fold=1),
        local(BERLIN, 2026, 10, 25, 3, 30),
    ]
    assert runs[1] - runs[0] == timedelta(hours=1)


def test_slots_between_keeps_the_newest() -> None:
    sched = parse_schedule("@every 10s", "UTC")
    slots = sched.slots_between(utc(2026, 1, 1), utc(2026, 1, 1, 0, 1), limit=3)
    assert slots == [utc(2026, 1, 1, 0, 0, 40), utc(2026, 1, 1, 0, 0, 50), utc(2026, 1, 1, 0, 1)]


@pytest.mark.parametrize(
    ("expr", "tz", "field"),
    [
        ("61 * * * *", "UTC", "spec.schedule"),
        ("* * * *", "UTC", "spec.schedule"),
        ("@fortnightly", "UTC", "spec.schedule"),
        ("@every soon", "UTC", "spec.schedule"),
        ("@every 100ms", "UTC", "spec.schedule"),
        ("0 0 30 2 *", "UTC", "spec.schedule: '0 0 30 2 \\*' never fires"),
        ("0 0 31 4,6,9,11 *", "UTC", "never fires"),
        ("0 9 * * *", "Mars/Olympus", "spec.timeZone"),
        ("0 9 * * *", "", "spec.timeZone"),
    ],
)
def test_invalid_schedules_name_the_field(expr: str, tz: str, field: str) -> None:
    with pytest.raises(ScheduleError, match=field):
        parse_schedule(expr, tz if tz else " ")


@pytest.mark.parametrize(
    ("expr", "first"),
    [
        # Rare but real: February 29 (and the 31st of the months that have one).
        ("0 0 29 2 *", utc(2028, 2, 29)),
        ("0 0 31 4,5 *", utc(2026, 5, 31)),
        # day-of-month OR day-of-week: the 30th of February never, Mondays always.
        ("0 0 30 2 1", utc(2026, 2, 2)),
    ],
)
def test_rare_expressions_are_kept(expr: str, first: datetime) -> None:
    assert parse_schedule(expr, "UTC").next_after(utc(2026, 1, 1, 0, 0, 1)) == first


# The scheduler asks only for the newest due slot and a bounded count of the
# older ones: checked against walking every slot (slots_between), around the
# daylight-saving changes of 2026 (Berlin: 29 Mar, 25 Oct; New York: 8 Mar, 1 Nov).
EXPRESSIONS = [  # (expression, zone, a window that holds at least one slot)
    ("*/5 * * * *", "Europe/Berlin", timedelta(minutes=30)),
    ("*/7 * * * *", "America/New_York", timedelta(hours=1)),
    ("30 2 * * *", "Europe/Berlin", timedelta(days=2)),  # in the spring gap: at its end
    ("30 1 * * *", "America/New_York", timedelta(days=2)),  # in the repeated hour: once
    ("15 * * * *", "Europe/Berlin", timedelta(hours=3)),  # hour *: both repeated hours
    ("0 9 * * 1-5", "UTC", timedelta(days=4)),
    ("@every 7m", "UTC", timedelta(hours=1)),
]
INSTANTS = [
    base + timedelta(minutes=m)
    for base in (utc(2026, 3, 29, 0), utc(2026, 10, 25, 0), utc(2026, 3, 8, 6), utc(2026, 11, 1, 4))
    for m in range(0, 240, 37)
]


@pytest.mark.parametrize(("expr", "tz", "window"), EXPRESSIONS)
def test_latest_slot_agrees_with_walking_every_slot(expr: str, tz: str, window: timedelta) -> None:
    schedule = parse_schedule(expr, tz)
    for at in INSTANTS:
        walked = schedule.slots_between(at - window, at)
        assert schedule.latest_at_or_before(at) == walked[-1], (expr, tz, at)
        # ... and the one after it is next_after's answer.
        assert schedule.next_after(walked[-1]) > at


@pytest.mark.parametrize(("expr", "tz", "window"), EXPRESSIONS)
def test_missed_slots_are_counted_up_to_a_limit(expr: str, tz: str, window: timedelta) -> None:
    schedule = parse_schedule(expr, tz)
    for at in INSTANTS[::5]:
        start = at - window
        inside = [t for t in schedule.slots_between(start, at) if t < at]
        assert schedule.count_between(start, at, limit=10_000) == len(inside)
        assert schedule.count_between(start, at, limit=3) == min(3, len(inside))


def test_a_slot_exactly_at_the_instant_is_the_latest() -> None:
    schedule = parse_schedule("0 9 * * *", "Europe/Berlin")
    nine = local(BERLIN, 2026, 6, 1, 9, 0)
    assert schedule.latest_at_or_before(nine) == nine
    assert schedule.latest_at_or_before(nine - timedelta(microseconds=1)) == nine - timedelta(
        days=1
    )


def test_every_with_a_fraction_of_a_second_keeps_exact_slots() -> None:
    """Slot arithmetic in whole microseconds (floats misplaced slots of 1.1s)."""
    schedule = parse_schedule("@every 1.1s", "UTC")
    start = utc(2026, 6, 1)
    slots = schedule.slots_between(start, start + timedelta(seconds=60))
    assert len(slots) == 55
    assert all(schedule.latest_at_or_before(s) == s for s in slots)
    assert all(schedule.next_after(a) == b for a, b in itertools.pairwise(slots))
    assert schedule.count_between(slots[0], slots[-1], limit=100) == len(slots) - 2


def test_a_rare_but_real_date_is_not_refused() -> None:
    """A fifth Monday of February happens (2016, 2044): not 'never fires'."""
    assert parse_schedule("0 0 * 2 1#5", "UTC").next_after(utc(2026, 6, 1)) == utc(2044, 2, 29)


@pytest.mark.parametrize(
    ("expr", "ask"),
    [
        pytest.param("0 9 * * *", "next_after", id="cron-next"),
        pytest.param("0 9 * * *", "latest_at_or_before", id="cron-latest"),
        pytest.param("@every 5m", "next_after", id="every-next"),
        pytest.param("@every 5m", "latest_at_or_before", id="every-latest"),
    ],
)
def test_a_clock_without_a_zone_is_refused(expr: str, ask: str) -> None:
    """Slots are instants: a naive time could be read in any zone."""
    with pytest.raises(ValueError, match="timezone-aware"):
        getattr(parse_schedule(expr, "Europe/Berlin"), ask)(datetime(2026, 6, 1, 9, 0))
