"""Writing a status, the same way for every kind.

A condition's ``lastTransitionTime`` moves only when its status flips; a
status is written as a JSON merge patch from what the object has to what it
should have, and only when that patch is not empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from bgjobs.models.common import Condition

Truth = Literal["True", "False"]


def condition(
    prev: Condition | None,
    ctype: str,
    value: Truth,
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> Condition:
    """The condition ``ctype`` now; its transition time is ``prev``'s unless it flipped
    (metav1.Condition: "the last time the condition transitioned from one status
    to another"; a new reason alone is no transition)."""
    since = now if prev is None or prev.status != value else prev.last_transition_time
    return Condition(
        type=ctype,
        status=value,
        reason=reason,
        message=message,
        last_transition_time=since,
        observed_generation=generation,
    )


def dump(status: BaseModel) -> dict[str, Any]:
    """A status as the API server stores it (camelCase, no nulls)."""
    return status.model_dump(by_alias=True, mode="json", exclude_none=True)


def merge_patch(old: dict[str, Any], new: BaseModel) -> dict[str, Any]:
    """The JSON merge patch from ``old`` to ``new`` (``None`` removes a field)."""
    target = dump(new)
    patch: dict[str, Any] = {k: v for k, v in target.items() if old.get(k) != v}
    for key in old:
        if key not in target:
            patch[key] = None
    return patch
