"""Rendering for the plugin: kubectl-style tables, ages, JSON and YAML, the order of
priorities, a live status line."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

import yaml

from bgjobs.client import Job
from bgjobs.models.common import Priority, parse_time


def age(ts: str | datetime | None, now: datetime | None = None) -> str:
    """kubectl's short age: 42s, 5m, 3h12m, 4d."""
    when = parse_time(ts) if isinstance(ts, str) else ts
    if when is None:
        return "<none>"
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    if seconds < 0:
        return f"in {age(now or datetime.now(UTC), when)}"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h{minutes % 60}m" if hours < 10 and minutes % 60 else f"{hours}h"
    return f"{hours // 24}d"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def priority_level(name: str) -> int:
    """``Priority.level`` of a priority in any case; Normal's for none or an unknown one."""
    try:
        return Priority(name.capitalize()).level
    except ValueError:
        return Priority.NORMAL.level


def dump(obj: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(obj, indent=2, sort_keys=False, default=str)
    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=True).rstrip()


class StatusLine:
    """A job's state while it is waited for: rewritten in place on a terminal, else one
    line per change (so a log keeps every step)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.last = ""

    def show(self, job: Job) -> None:
        line = f"{job.name}: {job.phase}" + (f" ({job.reason})" if job.reason else "")
        if job.retry_count:
            line += f", retry {job.retry_count}"
        if line != self.last:
            start, end = ("\r\033[K", "") if self.tty else ("", "\n")
            print(start + line, end=end, file=self.stream)
            self.last = line

    def end(self) -> None:
        """Leave the line, so what follows starts on a fresh one."""
        if self.tty and self.last:
            print(file=self.stream)
