"""Retry backoff as the contract defines it.

``delay(n) = min(initialDelay * backoffFactor ** (n - 1), maxDelay)`` where
``n`` is the retry number (1 for the first retry).
"""

from __future__ import annotations

from datetime import timedelta


def retry_delay(
    retry: int,
    *,
    initial_delay: timedelta,
    max_delay: timedelta,
    backoff_factor: float,
) -> timedelta:
    """The wait before retry number ``retry`` (1-based)."""
    if retry < 1:
        raise ValueError(f"retry number starts at 1, got {retry}")
    cap = max_delay.total_seconds()
    seconds = initial_delay.total_seconds()
    # Multiply step by step and stop at the cap: no float overflow for large n.
    for _ in range(retry - 1):
        if seconds >= cap:
            break
        seconds *= backoff_factor
    return timedelta(seconds=min(seconds, cap))
