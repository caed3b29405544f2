"""Polling with a deadline: the only way tests wait for the cluster.

Tests never sleep to synchronise; they poll a probe until it returns a truthy
value or the deadline passes, and then fail saying what they waited for and
what they saw last. :func:`eventually` awaits its probe; :func:`eventually_sync`
is the same for code that blocks (subprocesses, kubectl, sync clients).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    """The probe never returned a truthy value before the deadline."""

    def __init__(self, within: float, what: str, seen: object) -> None:
        super().__init__(f"timed out after {within:.0f}s waiting for {what}; last seen: {seen!r}")


async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float = 30.0,
    interval: float = 0.1,
    what: str = "the condition",
) -> T:
    """Return the first truthy value of ``await probe()``; fail after ``within`` s.

    A probe returns what it saw, or ``None`` (or any falsy value) for "not yet";
    the value returned is never ``None``."""
    deadline = time.monotonic() + within
    while True:
        seen = await probe()
        if seen:
            return seen
        if time.monotonic() >= deadline:
            raise Timeout(within, what, seen)
        await asyncio.sleep(interval)


def eventually_sync(
    probe: Callable[[], T | None],
    *,
    within: float = 30.0,
    interval: float = 0.1,
    what: str = "the condition",
) -> T:
    """:func:`eventually` for a blocking probe: the first truthy value of ``probe()``."""
    deadline = time.monotonic() + within
    while True:
        seen = probe()
        if seen:
            return seen
        if time.monotonic() >= deadline:
            raise Timeout(within, what, seen)
        time.sleep(interval)


async def time_passes(until: datetime) -> None:
    """Wait for wall-clock time (to show that nothing happens meanwhile)."""

    async def probe() -> bool:
        return datetime.now(UTC) >= until

    await eventually(probe, within=(until - datetime.now(UTC)).total_seconds() + 5, interval=0.2)
