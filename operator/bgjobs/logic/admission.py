"""What the admission webhook refuses, beyond the CRD schema. Pure: no I/O.

The schema already refuses bad enums, patterns and bounds. The webhook adds
what it cannot say: cron syntax and time zone, the payload size cap, and
whether a handler is registered for the type. The operator keeps the same
checks as its fallback (a job that slips through ends ``InvalidSpec``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bgjobs.logic.cron import ScheduleError, parse_schedule
from bgjobs.logic.validation import InvalidSpec, parse_spec
from bgjobs.models.jobschedule import JobScheduleSpec
from bgjobs.models.registry import Registry, format_errors

# Spec changes that only stop or keep existing work, never define new work:
# an UPDATE making only these is not judged again, so that a job whose type
# was since removed (or whose payload is over a since-lowered cap) can still
# be cancelled, and a schedule still be suspended. Turning them back (cancel
# or suspend to false) resumes work, and is judged.
STOPPING = {"backgroundjobs": {"cancel"}, "jobschedules": {"suspend"}}
KEEPING = {"backgroundjobs": {"ttlAfterFinished"}, "jobschedules": set[str]()}


def needs_judging(
    plural: str,
    operation: str | None,
    old_spec: Mapping[str, Any] | None,
    new_spec: Mapping[str, Any] | None,
) -> bool:
    """Whether this admission request defines work the webhook must check:
    CREATE, and UPDATEs that change the spec other than by stopping it.
    Metadata-, status- and finalizer-only updates leave the spec as it was."""
    if operation == "CREATE":
        return True
    if operation != "UPDATE":
        return False
    old, new = dict(old_spec or {}), dict(new_spec or {})
    for name in STOPPING.get(plural, set()):
        if new.get(name) and not old.get(name):  # stopping: fine whatever else holds
            old.pop(name, None)
            new.pop(name, None)
    for name in KEEPING.get(plural, set()):
        old.pop(name, None)
        new.pop(name, None)
    return old != new


def check_backgroundjob(spec: dict[str, Any] | None, registry: Registry) -> str | None:
    """None if admissible, else the reason (naming the field)."""
    try:
        parsed = parse_spec(spec, registry.max_payload_bytes)
    except InvalidSpec as exc:
        return str(exc)
    if registry.handlers and parsed.type not in registry.handlers:
        known = ", ".join(sorted(registry.handlers))
        return f"spec.type: no handler is registered for {parsed.type!r} (registered: {known})"
    return None


def check_jobschedule(spec: dict[str, Any] | None, registry: Registry) -> str | None:
    try:
        parsed = JobScheduleSpec.model_validate(spec or {})
    except ValidationError as exc:
        return format_errors(exc, "spec.")
    try:
        parse_schedule(parsed.schedule, parsed.time_zone)
    except ScheduleError as exc:
        return str(exc)
    template = parsed.job_template.spec.model_dump(by_alias=True, mode="json", exclude_none=True)
    problem = check_backgroundjob(template, registry)
    return problem.replace("spec.", "spec.jobTemplate.spec.", 1) if problem else None
