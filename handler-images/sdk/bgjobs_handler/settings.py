"""A handler's settings, read from its env: a missing or malformed one is a permanent error.

Settings come from the handler's registry entry, and a retry runs with the
same values: retrying a typo only spends attempts. Each reader names the
variable and what it expects, and fails the attempt with exit 3.

    timeout = seconds(ctx.env, "APP_TIMEOUT", 15)
    base = required(ctx.env, "APP_BASE_URL")
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping

from bgjobs_handler.runtime import PermanentError


def required(env: Mapping[str, str], name: str) -> str:
    """The variable's value; unset or empty is an error."""
    value = env.get(name, "")
    if not value:
        raise PermanentError(f"{name} is not set in the handler's environment")
    return value


def seconds(env: Mapping[str, str], name: str, default: float) -> float:
    """A positive, finite number of seconds (``default`` when unset or empty)."""
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise PermanentError(f"{name}={raw!r}: expected a positive number of seconds")
    return value


def integer(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` (``default`` when unset or empty)."""
    raw = env.get(name, "")
    if not raw:
        return default
    value = int(raw) if re.fullmatch(r"-?[0-9]+", raw) else low - 1
    if not low <= value <= high:
        raise PermanentError(f"{name}={raw!r}: expected a whole number from {low} to {high}")
    return value


def one_of(env: Mapping[str, str], name: str, default: str, choices: Collection[str]) -> str:
    """One of ``choices``, compared in lower case (``default`` when unset or empty)."""
    value = (env.get(name) or default).lower()
    if value not in choices:
        raise PermanentError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value
