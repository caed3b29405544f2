"""When does a schedule fire? Cron in a time zone, with a daylight-saving rule.

Expressions: 5-field cron (day-of-month and day-of-week OR-ed, as in Vixie
cron and Kubernetes), the macros ``@hourly @daily @midnight @weekly @monthly
@yearly @annually``, and ``@every <duration>``.

Daylight saving (the rule of Vixie/Debian cron, not Kubernetes CronJob, which
skips or repeats such runs):

* A wall-clock time that does not exist (spring forward, e.g. 02:30 in
  Europe/Berlin on the last Sunday of March) runs **once, at the end of the
  gap** (03:00 local) for an expression with a fixed hour; expressions whose
  hour field is ``*`` simply have no run in the missing hour.
* A wall-clock time that happens twice (fall back) runs **once, at its first
  occurrence** for a fixed hour; with an hour field of ``*`` it runs in both
  hours, as every real hour is a new hour.

``@every`` slots are multiples of the interval since the Unix epoch (UTC), so
every operator replica and every restart computes the same slots.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from bgjobs.models.durations import DurationError, parse_duration

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
MIN_EVERY = timedelta(seconds=1)
# @every slots are whole multiples of the interval since this instant, in
# exact (microsecond) arithmetic: floats misplace slots of e.g. 1.1s.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ScheduleError(ValueError):
    """An expression or time zone that cannot be scheduled; the message names the field."""


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: ``next_after(t)`` gives the first slot strictly after ``t``."""

    expression: str
    zone: tzinfo
    every: timedelta | None = None
    cron: str | None = None

    def next_after(self, after: datetime) -> datetime:
        if after.tzinfo is None:
            raise ValueError("after must be timezone-aware")
        if self.every is not None:
            return _EPOCH + ((after - _EPOCH) // self.every + 1) * self.every
        assert self.cron is not None
        return _next_cron(self.cron, self.zone, after.astimezone(UTC))

    def latest_at_or_before(self, at: datetime) -> datetime | None:
        """The newest slot at or before ``at`` (None if there is none in reach)."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        if self.every is not None:
            return _EPOCH + ((at - _EPOCH) // self.every) * self.every
        assert self.cron is not None
        return _prev_cron(self.cron, self.zone, at.astimezone(UTC))

    def count_between(self, start: datetime, end: datetime, limit: int) -> int:
        """How many slots lie in ``(start, end)``, counting at most ``limit``."""
        if self.every is not None:
            first = (start - _EPOCH) // self.every + 1
            last = -((_EPOCH - end) // self.every) - 1  # the last one below end
            return max(0, min(limit, last - first + 1))
        n, t = 0, start
        while n < limit:
            t = self.next_after(t)
            if t >= end:
                break
            n += 1
        return n

    def slots_between(self, start: datetime, end: datetime, limit: int = 1000) -> list[datetime]:
        """Slots in ``(start, end]``, oldest first, at most ``limit`` (the newest kept).

        Walks every slot: for short ranges (tests, previews); the scheduler
        uses ``latest_at_or_before`` and ``count_between``.
        """
        out: list[datetime] = []
        t = start
        while True:
            t = self.next_after(t)
            if t > end:
                return out
            out.append(t)
            if len(out) > limit:
                out.pop(0)


def parse_schedule(expression: str, time_zone: str | None = "UTC") -> Schedule:
    """Parse ``spec.schedule`` and ``spec.timeZone``; errors name the field."""
    zone = parse_zone(time_zone or "UTC")
    text = " ".join((expression or "").split())
    if text.startswith("@every"):
        arg = text[len("@every") :].strip()
        try:
            every = parse_duration(arg)
        except DurationError as exc:
            raise ScheduleError(
                f"spec.schedule: @every needs a duration such as 15s: {exc}"
            ) from exc
        if every < MIN_EVERY:
            raise ScheduleError(f"spec.schedule: @every {arg} is under the 1s minimum")
        return Schedule(text, zone, every=every)
    cron = MACROS.get(text.lower(), text)
    if cron.startswith("@"):
        raise ScheduleError(
            f"spec.schedule: unknown macro {text!r}; use one of {', '.join(MACROS)} or @every"
        )
    if len(cron.split()) != 5:
        raise ScheduleError(
            f"spec.schedule: {text!r} must have 5 fields (minute hour day-of-month month "
            "day-of-week), a macro such as @daily, or @every <duration>"
        )
    if not croniter.is_valid(cron):
        raise ScheduleError(f"spec.schedule: {text!r} is not a valid cron expression")
    if not _fires(cron):
        raise ScheduleError(
            f"spec.schedule: {text!r} never fires: no month has that day "
            "(check the day-of-month and month fields)"
        )
    return Schedule(text, zone, cron=cron)


# How far to search for a first match: croniter's own default, long enough
# for the rarest real dates (a fifth Monday in February: 2016, 2044).
_SEARCH_YEARS = 50


def _fires(cron: str) -> bool:
    """Whether the expression matches any real date (``0 0 30 2 *`` does not)."""
    try:
        croniter(
            cron, datetime(2000, 1, 1), day_or=True, max_years_between_matches=_SEARCH_YEARS
        ).get_next(datetime)
    except CroniterBadDateError:
        return False
    return True


def parse_zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"spec.timeZone: {name!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)"
        ) from exc


# DST-aware cron ------------------------------------------------------------------


def _exists(naive: datetime, zone: tzinfo) -> bool:
    """False for a wall time in a spring-forward gap."""
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def _ambiguous(naive: datetime, zone: tzinfo) -> bool:
    a = naive.replace(tzinfo=zone, fold=0).utcoffset()
    b = naive.replace(tzinfo=zone, fold=1).utcoffset()
    return a != b and _exists(naive, zone)


def _gap_end(naive: datetime, zone: tzinfo) -> datetime:
    """The first real instant after the gap that swallowed ``naive`` (UTC)."""
    wall = naive.replace(second=0, microsecond=0)
    while not _exists(wall, zone):  # gaps last minutes to hours: a short walk
        wall += timedelta(minutes=1)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _instants(naive: datetime, zone: tzinfo, fixed_hour: bool) -> Iterator[datetime]:
    if not _exists(naive, zone):
        if fixed_hour:
            yield _gap_end(naive, zone)
        return
    if _ambiguous(naive, zone):
        yield naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
        if not fixed_hour:
            yield naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
        return
    yield naive.replace(tzinfo=zone).astimezone(UTC)


# How far a daylight-saving shift can move a wall time (with margin).
_DST_REACH = timedelta(hours=3)


def _steady(zone: tzinfo, start: datetime, end: datetime) -> bool:
    """True when ``zone`` keeps one UTC offset from ``start - reach`` to ``end + reach``.
    Comparing the two ends is enough over a day: no zone changes its offset
    twice within a day and a few hours."""
    a = (start - _DST_REACH).astimezone(zone).utcoffset()
    b = (end + _DST_REACH).astimezone(zone).utcoffset()
    return a == b and (end - start) < timedelta(days=1)


def _next_cron(cron: str, zone: tzinfo, after: datetime) -> datetime:
    local_after = after.astimezone(zone).replace(tzinfo=None)
    # Fast path: no daylight-saving change near, wall time maps to real time 1:1.
    naive: datetime = croniter(cron, local_after, day_or=True).get_next(datetime)
    candidate = naive.replace(tzinfo=zone).astimezone(UTC)
    if _steady(zone, after, candidate):
        return candidate
    return _next_cron_across_dst(cron, zone, after)


def _prev_cron(cron: str, zone: tzinfo, at: datetime) -> datetime | None:
    local_at = at.astimezone(zone).replace(tzinfo=None, microsecond=0)
    # croniter's get_prev is strictly before its start: start a second later.
    try:
        naive: datetime = croniter(cron, local_at + timedelta(seconds=1), day_or=True).get_prev(
            datetime
        )
    except CroniterBadDateError:
        return None
    candidate = naive.replace(tzinfo=zone).astimezone(UTC)
    if candidate <= at and _steady(zone, candidate, at):
        return candidate
    return _prev_cron_across_dst(cron, zone, at)


def _prev_cron_across_dst(cron: str, zone: tzinfo, at: datetime) -> datetime | None:
    """The mirror of ``_next_cron_across_dst``: the newest instant at or before ``at``."""
    fixed_hour = cron.split()[1] != "*"
    local_at = at.astimezone(zone).replace(tzinfo=None)
    it = croniter(cron, local_at + _DST_REACH, day_or=True)
    best: datetime | None = None
    while True:
        try:
            naive: datetime = it.get_prev(datetime)
        except CroniterBadDateError:
            return best
        if best is not None and naive < best.astimezone(zone).replace(tzinfo=None) - _DST_REACH:
            return best
        for instant in _instants(naive, zone, fixed_hour):
            if instant <= at and (best is None or instant > best):
                best = instant


def _next_cron_across_dst(cron: str, zone: tzinfo, after: datetime) -> datetime:
    fixed_hour = cron.split()[1] != "*"
    local_after = after.astimezone(zone).replace(tzinfo=None)
    # Start a little earlier: a gap-shifted or second-fold slot can have an
    # earlier wall time than ``after`` and still be later in real time.
    it = croniter(cron, local_after - timedelta(hours=3), day_or=True)
    best: datetime | None = None
    while True:
        naive: datetime = it.get_next(datetime)
        if best is not None and naive > best.astimezone(zone).replace(tzinfo=None) + timedelta(
            hours=3
        ):
            return best
        for instant in _instants(naive, zone, fixed_hour):
            if instant > after and (best is None or instant < best):
                best = instant
