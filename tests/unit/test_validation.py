"""A job's spec: what is refused (naming the field), and its effective settings,
field by field: the job's own, else its handler's, else the defaults."""

from datetime import timedelta
from typing import Any

import pytest

from bgjobs.logic.validation import InvalidSpec, effective, parse_spec
from bgjobs.models.backgroundjob import BackgroundJobSpec
from bgjobs.models.common import Priority
from bgjobs.models.registry import Registry

CAP = 1_000


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        pytest.param(None, "spec.type: Field required", id="no-spec"),
        pytest.param({"type": "Email"}, "spec.type: String should match pattern", id="bad-type"),
        pytest.param({"type": "e", "priority": "Top"}, "spec.priority: Input should be", id="prio"),
        pytest.param({"type": "e", "colour": 1}, "spec.colour: Extra inputs", id="unknown-field"),
        pytest.param({"type": "e", "payload": [1]}, "spec.payload: Input should be", id="list"),
        pytest.param({"type": "e", "delay": "soon"}, "spec.delay: Value error", id="bad-delay"),
        pytest.param(
            {"type": "e", "retryPolicy": {"maxRetries": 101}},
            "spec.retryPolicy.maxRetries: Input should be less than or equal to 100",
            id="nested-camel-case-path",
        ),
        pytest.param(
            {"type": "e", "runAt": "2026-01-01T00:00:00Z", "delay": "1m"},
            "spec.runAt and spec.delay are mutually exclusive",
            id="run-at-and-delay",
        ),
        pytest.param(
            {"type": "e", "timeout": "999ms"}, "spec.timeout: '999ms' is under the 1s minimum",
            id="timeout-under-1s",
        ),
        pytest.param(
            {"type": "e", "payload": {"k": "x" * CAP}},
            f"spec.payload: {CAP + 8} bytes serialized, over the {CAP}-byte cap",
            id="payload-over-cap",
        ),
    ],
)  # fmt: skip
def test_a_spec_that_can_never_run_is_refused_naming_the_field(
    raw: dict[str, Any] | None, says: str
) -> None:
    with pytest.raises(InvalidSpec) as caught:
        parse_spec(raw, CAP)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({"type": "e", "timeout": "1s"}, id="timeout-of-1s"),
        pytest.param({"type": "e", "payload": {"k": "x" * (CAP - 8)}}, id="payload-at-cap"),
        pytest.param({"type": "e", "runAt": "2026-01-01T00:00:00Z"}, id="run-at"),
    ],
)
def test_a_spec_at_the_limits_is_accepted(raw: dict[str, Any]) -> None:
    assert parse_spec(raw, CAP) == BackgroundJobSpec.model_validate(raw)


# The three layers, each with a value of its own for every field.
HANDLER_SAYS = {
    "priority": "Low",
    "timeout": "90s",
    "retryPolicy": {"maxRetries": 5, "initialDelay": "5s", "maxDelay": "1m", "backoffFactor": 3},
}
JOB_SAYS = {
    "priority": "Urgent",
    "timeout": "2m",
    "retryPolicy": {"maxRetries": 0, "initialDelay": "1s", "maxDelay": "2s", "backoffFactor": 1},
}


def settings(handler: dict[str, Any], job: dict[str, Any]) -> dict[str, Any]:
    registry = Registry.model_validate({"handlers": {"email": {"image": "e", **handler}}})
    spec = BackgroundJobSpec.model_validate({"type": "email", **job})
    return vars(effective(spec, registry))


DEFAULTS = {
    "priority": Priority.NORMAL,
    "max_retries": 3,
    "initial_delay": timedelta(seconds=30),
    "max_delay": timedelta(minutes=10),
    "backoff_factor": 2.0,
    "timeout": timedelta(minutes=10),
}
FROM_HANDLER = {
    "priority": Priority.LOW,
    "max_retries": 5,
    "initial_delay": timedelta(seconds=5),
    "max_delay": timedelta(minutes=1),
    "backoff_factor": 3.0,
    "timeout": timedelta(seconds=90),
}
FROM_JOB = {
    "priority": Priority.URGENT,
    "max_retries": 0,  # 0 is a setting, not "unset": the job runs once
    "initial_delay": timedelta(seconds=1),
    "max_delay": timedelta(seconds=2),
    "backoff_factor": 1.0,
    "timeout": timedelta(minutes=2),
}


@pytest.mark.parametrize(
    ("handler", "job", "expected"),
    [
        pytest.param({}, {}, DEFAULTS, id="defaults"),
        pytest.param(HANDLER_SAYS, {}, FROM_HANDLER, id="handler-over-defaults"),
        pytest.param({}, JOB_SAYS, FROM_JOB, id="job-over-defaults"),
        pytest.param(HANDLER_SAYS, JOB_SAYS, FROM_JOB, id="job-over-handler"),
        # Retry settings merge field by field, not policy by policy.
        pytest.param(
            HANDLER_SAYS,
            {"retryPolicy": {"maxRetries": 1}},
            {**FROM_HANDLER, "max_retries": 1},
            id="one-field-of-the-job",
        ),
        pytest.param(
            {"retryPolicy": {"backoffFactor": 4}},
            {"retryPolicy": {"initialDelay": "2s"}},
            {**DEFAULTS, "backoff_factor": 4.0, "initial_delay": timedelta(seconds=2)},
            id="all-three-layers",
        ),
        # A cap under the first delay would shorten it: the first delay is the floor.
        pytest.param(
            {"retryPolicy": {"maxDelay": "10s"}},
            {"retryPolicy": {"initialDelay": "1m"}},
            {**DEFAULTS, "initial_delay": timedelta(minutes=1), "max_delay": timedelta(minutes=1)},
            id="max-delay-never-under-the-initial",
        ),
    ],
)
def test_effective_settings_take_the_job_then_the_handler_then_the_defaults(
    handler: dict[str, Any], job: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert settings(handler, job) == expected
