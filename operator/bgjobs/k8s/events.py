"""Events that repeat are counted on one Event, not posted again and again.

As client-go's correlator does it, in short: occurrences with the same
object, type and reason within ``window`` form a series. The first creates
the Event; later ones raise its ``count`` and update its message and
``lastTimestamp``, written at most once every ``update_every`` (occurrences
in between are added to the next write). A retry loop every 10 s thus
writes one Event and a patch every 30 s, not an Event every 10 s.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

SeriesKey = tuple[str, str, str, str]  # namespace, object uid, type, reason


@dataclass
class Series:
    name: str | None = None  # the Event's name, once created
    count: int = 1  # occurrences written to it
    pending: int = 0  # occurrences since the last write
    written_at: float = 0.0  # monotonic


Action = Literal["create", "update", "skip"]


@dataclass
class EventSeries:
    window: float = 600.0
    update_every: float = 30.0
    size: int = 4096  # series remembered (least recently used forgotten)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        self._series: OrderedDict[SeriesKey, Series] = OrderedDict()

    def occurred(self, key: SeriesKey) -> tuple[Action, Series]:
        """Record one occurrence; say whether to create the Event, update it, or wait."""
        now = self.clock()
        series = self._series.get(key)
        if series is None or now - series.written_at > self.window:
            series = Series(written_at=now)
            self._series[key] = series
            self._series.move_to_end(key)
            while len(self._series) > self.size:
                self._series.popitem(last=False)
            return "create", series
        self._series.move_to_end(key)
        series.pending += 1
        if series.name is None or now - series.written_at < self.update_every:
            return "skip", series
        series.count += series.pending
        series.pending = 0
        series.written_at = now
        return "update", series

    def forget(self, key: SeriesKey) -> None:
        """The Event is gone (expired, deleted): the next occurrence creates one."""
        self._series.pop(key, None)
