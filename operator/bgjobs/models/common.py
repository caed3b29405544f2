"""Field types shared by the models: durations, priorities, phases, conditions, timestamps."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic.alias_generators import to_camel

from bgjobs.models.durations import PATTERN as DURATION_PATTERN
from bgjobs.models.durations import parse_duration


def _check_duration(value: str) -> str:
    parse_duration(value)  # raises DurationError with a clear message
    return value


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": DURATION_PATTERN, "maxLength": 32}),
]
"""A Go-style duration string such as ``30s``, ``10m`` or ``1h30m``."""

TYPE_PATTERN = r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$"
HandlerType = Annotated[str, Field(pattern=TYPE_PATTERN, min_length=1, max_length=63)]
"""A handler type name: lower case letters, digits, ``_`` and ``-``, at most 63."""


class Priority(StrEnum):
    LOW = "Low"
    NORMAL = "Normal"
    HIGH = "High"
    URGENT = "Urgent"

    @property
    def level(self) -> int:
        """0 for Low ... 3 for Urgent."""
        return _LEVELS[self]


_LEVELS = {Priority.LOW: 0, Priority.NORMAL: 1, Priority.HIGH: 2, Priority.URGENT: 3}


class Phase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    RETRYING = "Retrying"
    COMPLETED = "Completed"
    FAILED = "Failed"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED_PHASES


#: The phases a BackgroundJob ends in (plain strings compare equal to them).
FINISHED_PHASES = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED})


def parse_time(value: str | None) -> datetime | None:
    """A timestamp as the API server writes it (RFC 3339); no value gives None."""
    return datetime.fromisoformat(value) if value else None


class CamelModel(BaseModel):
    """Base: camelCase on the wire, snake_case in Python, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
    )


class Condition(CamelModel):
    """A ``metav1.Condition``."""

    type: str = Field(max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(default="", max_length=1024)
    message: str = Field(default="", max_length=32768)
    last_transition_time: datetime | None = None
    observed_generation: int | None = Field(default=None, ge=0)
