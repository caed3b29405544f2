"""Validate a BackgroundJob against the models and the handler registry.

The API server already enforces the CRD schema; this repeats it (objects may
predate a schema change) and adds what a schema cannot say: the payload size
cap and whether a handler is registered for the type. Every message names
the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from bgjobs.models.backgroundjob import BackgroundJobSpec
from bgjobs.models.common import Priority
from bgjobs.models.durations import parse_duration
from bgjobs.models.registry import DEFAULT_RETRY, DEFAULT_TIMEOUT, Registry, format_errors


class InvalidSpec(ValueError):
    """The spec can never run as written; the message names the field."""


@dataclass(frozen=True)
class Effective:
    """A job's settings after applying handler defaults and global defaults."""

    priority: Priority
    max_retries: int
    initial_delay: timedelta
    max_delay: timedelta
    backoff_factor: float
    timeout: timedelta


def retention(
    spec: BackgroundJobSpec, registry: Registry, *, from_schedule: bool = False
) -> timedelta | None:
    """How long a finished job is kept (None: for ever): the job's
    ``ttlAfterFinished``, else its type's, else the registry's; ``0s`` = keep.

    Only the job's own setting counts for a job of a type no longer
    registered (what its type said is unknown) and for a JobSchedule's child
    (its schedule's history limits decide, as a CronJob's do).
    """
    chosen = spec.ttl_after_finished
    handler = registry.handlers.get(spec.type)
    if chosen is None and handler is not None and not from_schedule:
        chosen = handler.ttl_after_finished or registry.ttl_after_finished
    if chosen is None:
        return None
    kept = parse_duration(chosen)
    return kept if kept > timedelta(0) else None


def payload_text(payload: Any) -> str:
    """The payload as the handler's pod receives it in ``BGJOB_PAYLOAD``: compact
    JSON in UTF-8, so that the cap measures exactly what goes into the pod."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def parse_spec(raw: dict[str, Any] | None, max_payload_bytes: int) -> BackgroundJobSpec:
    """Parse and check ``spec``; raise :class:`InvalidSpec` naming the field."""
    try:
        spec = BackgroundJobSpec.model_validate(raw or {})
    except ValidationError as exc:
        raise InvalidSpec(format_errors(exc, prefix="spec.")) from exc
    if spec.timeout is not None and parse_duration(spec.timeout) < timedelta(seconds=1):
        raise InvalidSpec(f"spec.timeout: {spec.timeout!r} is under the 1s minimum")
    size = len(payload_text(spec.payload).encode())
    if size > max_payload_bytes:
        raise InvalidSpec(
            f"spec.payload: {size} bytes serialized, over the {max_payload_bytes}-byte cap"
        )
    return spec


def effective(spec: BackgroundJobSpec, registry: Registry) -> Effective:
    """Job settings, else the handler's, else the defaults (the handler must exist)."""
    handler = registry.handlers[spec.type]
    layers = [p for p in (spec.retry_policy, handler.retry_policy, DEFAULT_RETRY) if p]

    def pick(field: str) -> Any:
        return next(getattr(p, field) for p in layers if getattr(p, field) is not None)

    initial = parse_duration(pick("initial_delay"))
    maximum = parse_duration(pick("max_delay"))
    return Effective(
        priority=spec.priority or handler.priority or Priority.NORMAL,
        max_retries=pick("max_retries"),
        initial_delay=initial,
        max_delay=max(maximum, initial),
        backoff_factor=pick("backoff_factor"),
        timeout=parse_duration(spec.timeout or handler.timeout or DEFAULT_TIMEOUT),
    )
