"""Go/Kubernetes-style duration strings (``30s``, ``10m``, ``1h30m``, ``1.5h``).

The contract writes every duration this way, as ``metav1.Duration`` does; this
module parses them to :class:`datetime.timedelta` and formats them back.
"""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS: dict[str, float] = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}

#: One JSON-schema pattern for a duration: the CRDs use it, so the API server
#: refuses a bad duration before the operator ever sees it.
PATTERN = r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$"

_FULL = re.compile(PATTERN)
_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")


class DurationError(ValueError):
    """A string that is not a Go-style duration."""


def parse_duration(text: str) -> timedelta:
    """Parse ``"1h30m"`` to ``timedelta(hours=1, minutes=30)``.

    >>> parse_duration("1m30s").total_seconds()
    90.0
    """
    if not isinstance(text, str) or not _FULL.match(text):
        raise DurationError(
            f"{text!r} is not a duration: use a number and a unit (ns, us, ms, s, m, h), "
            "e.g. 30s, 10m, 1h30m"
        )
    if text == "0":
        return timedelta(0)
    seconds = sum(float(num) * _UNITS[unit] for num, unit in _PART.findall(text))
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """Format as the shortest Go-style string: ``timedelta(seconds=90)`` → ``"1m30s"``."""
    total = value.total_seconds()
    if total < 0:
        raise DurationError(f"negative duration {value}")
    if total == 0:
        return "0s"
    if total < 1:
        ms = total * 1000
        return f"{ms:g}ms"
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    out = ""
    if hours:
        out += f"{int(hours)}h"
    if minutes:
        out += f"{int(minutes)}m"
    if seconds:
        out += f"{round(seconds, 3):g}s"
    return out
