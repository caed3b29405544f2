"""The BackgroundJob custom resource (``bgjobs.io/v1alpha1``): spec and status.

Field names, defaults and meanings follow the API contract. Everything a JSON
schema can say is said here, so the API server refuses bad objects before the
operator sees them; what it cannot say (payload size, a type with no handler)
the operator checks with :func:`bgjobs.logic.validation.validate_job`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field, model_validator

from bgjobs.models.common import CamelModel, Condition, Duration, HandlerType, Phase, Priority
from bgjobs.vocabulary import RETRY_ANNOTATION

KIND = "BackgroundJob"
PLURAL = "backgroundjobs"
SINGULAR = "backgroundjob"
SHORT_NAMES = ["bgjob", "bgj"]
#: Set to a new value on a Failed job to run it again (``status.handledRetry``
#: records the last value acted on).
#: Paths ``kubectl get bgj --field-selector`` filters on (CRD ``selectableFields``),
#: e.g. ``status.phase=Failed,spec.type=email``: no label has to follow the phase.
SELECTABLE_FIELDS = ["spec.type", "status.phase", "status.priority", "status.reason"]


class RetryPolicy(CamelModel):
    """How often and how long to wait between retries; unset fields come from the handler."""

    max_retries: int | None = Field(
        default=None, ge=0, le=100, description="Retries after the first attempt (0 = run once)."
    )
    initial_delay: Duration | None = Field(default=None, description="Delay before the 1st retry.")
    max_delay: Duration | None = Field(default=None, description="Upper bound of any delay.")
    backoff_factor: float | None = Field(
        default=None,
        ge=1.0,
        le=10.0,
        description="delay(n) = min(initialDelay * backoffFactor^(n-1), maxDelay).",
    )


class JobSpecBase(CamelModel):
    """Fields shared by a BackgroundJob's spec and a JobSchedule's job template."""

    type: HandlerType = Field(description="Handler type: selects the image from the registry.")
    priority: Priority | None = Field(
        default=None,
        description="Low | Normal | High | Urgent; default: the handler's, else Normal.",
    )
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="Any JSON object, passed to the handler as BGJOB_PAYLOAD (size-capped).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    retry_policy: RetryPolicy | None = Field(default=None)
    timeout: Duration | None = Field(
        default=None, description="Per attempt; default: the handler's, else 10m."
    )
    ttl_after_finished: Duration | None = Field(
        default=None,
        description="Delete the object this long after it finished; default: its type's, "
        "else the registry's (168h); 0s = keep it.",
    )


class BackgroundJobSpec(JobSpecBase):
    """What to run, how urgently, and how to retry it."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!(has(self.runAt) && has(self.delay))",
                    "message": "spec.runAt and spec.delay are mutually exclusive",
                    "fieldPath": ".delay",
                }
            ]
        }
    )

    run_at: datetime | None = Field(default=None, description="Not before this time (RFC 3339).")
    delay: Duration | None = Field(default=None, description="Not before creation + delay.")
    cancel: bool = Field(
        default=False, description="true: stop queued or retrying work, end a running attempt."
    )

    @model_validator(mode="after")
    def _run_at_xor_delay(self) -> BackgroundJobSpec:
        if self.run_at is not None and self.delay is not None:
            raise ValueError("spec.runAt and spec.delay are mutually exclusive")
        return self


class Attempt(CamelModel):
    """One attempt: one batch/v1 Job."""

    model_config = ConfigDict(extra="ignore")

    attempt: int = Field(ge=1)
    job_name: str
    pod_name: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str | None = Field(
        default=None,
        description="Short CamelCase why, e.g. Completed, PermanentFailure, DeadlineExceeded.",
    )
    message: str | None = Field(default=None, max_length=4096)


class BackgroundJobStatus(CamelModel):
    """Written by the operator only."""

    model_config = ConfigDict(extra="ignore")

    phase: Phase | None = Field(default=None, description="Where the job is in its lifecycle.")
    reason: str | None = None
    message: str | None = Field(default=None, description="One human sentence.")
    priority: Priority | None = Field(
        default=None,
        description="Effective priority (spec, else the handler's, else Normal), once judged.",
    )
    retry_count: int = Field(default=0, ge=0, description="Retries started so far.")
    queued_at: datetime | None = Field(default=None, description="First queued (FIFO order).")
    started_at: datetime | None = Field(default=None, description="First attempt started.")
    completed_at: datetime | None = Field(default=None, description="Reached a final phase.")
    next_attempt_at: datetime | None = Field(default=None, description="When Retrying: next try.")
    job_name: str | None = Field(default=None, description="batch/v1 Job of the last attempt.")
    result: Any = Field(
        default=None,
        description="The JSON the handler returned (its termination message).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    error: str | None = Field(default=None, description="Last failure, human-readable.")
    attempts: list[Attempt] = Field(
        default_factory=list,
        max_length=50,
        description="Newest last; the operator keeps the last 10 (the schema allows 50).",
    )
    conditions: list[Condition] = Field(
        default_factory=list, description="Queued, Running, Succeeded, Failed."
    )
    observed_generation: int | None = None
    handled_retry: str | None = Field(
        default=None, description=f"The {RETRY_ANNOTATION} annotation value last acted on."
    )
