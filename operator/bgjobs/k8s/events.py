"""Events of a retry loop are counted on one Event, not posted again and again.

Only reasons that repeat by nature (a dispatch retried while Job creation
is refused, a skipped schedule slot, a repaired queue entry) are grouped:
occurrences with the same object, type and reason within ``window`` form a
series. The first creates the Event; later ones raise its ``count`` and
replace its message with the latest, written at most once every
``update_every``: what arrives in between is written ``update_every`` after
the last write. A loop every 10 s thus writes one Event and a patch every
30 s, not an Event every 10 s. Transitions (Dispatched, Retrying, ...) are
never grouped: each is an Event of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

SeriesKey = tuple[str, str, str, str]  # namespace, object uid, type, reason


@dataclass
class Series:
    message: str
    name: str | None = None  # the Event's name, once created
    count: int = 1  # occurrences written to it
    pending: int = 0  # occurrences since the last write
    written_at: float = 0.0  # monotonic
    flush_due: bool = False  # a write of the pending ones is scheduled
    #: One write at a time, so that an older count never lands last.
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)


Action = Literal["create", "update", "later"]


@dataclass
class EventSeries:
    window: float = 600.0
    update_every: float = 30.0
    size: int = 4096  # series remembered (least recently used forgotten)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._series: OrderedDict[SeriesKey, Series] = OrderedDict()

    def occurred(self, key: SeriesKey, message: str) -> tuple[Action, Series]:
        """Record one occurrence: create the Event, update it now, or later
        (in :meth:`wait_for` seconds, then :meth:`take`)."""
        now = self.clock()
        series = self._series.get(key)
        if series is None or now - series.written_at > self.window:
            series = Series(message=message, written_at=now)
            self._series[key] = series
            self._series.move_to_end(key)
            while len(self._series) > self.size:
                self._series.popitem(last=False)
            return "create", series
        self._series.move_to_end(key)
        series.pending += 1
        series.message = message
        if series.name is None or now - series.written_at < self.update_every:
            return "later", series
        self._write(series, now)
        return "update", series

    def wait_for(self, series: Series) -> float:
        """Seconds until the pending occurrences of ``series`` may be written."""
        return max(0.0, series.written_at + self.update_every - self.clock())

    def take(self, series: Series) -> bool:
        """Count the pending occurrences in; True if there were any to write."""
        if series.pending == 0 or series.name is None:
            return False
        self._write(series, self.clock())
        return True

    def forget(self, key: SeriesKey, series: Series) -> None:
        """The Event of ``series`` could not be made: the next occurrence
        creates one (unless a newer series has taken the key meanwhile)."""
        if self._series.get(key) is series:
            del self._series[key]

    @staticmethod
    def _write(series: Series, now: float) -> None:
        series.count += series.pending
        series.pending = 0
        series.written_at = now
