"""The admission webhook: which requests it judges (what defines work, nothing
else), and what it refuses beyond the CRD schema, naming the field."""

from typing import Any

import pytest

from bgjobs.logic.admission import check_backgroundjob, check_jobschedule, needs_judging
from bgjobs.models.registry import Registry

JOB = {"type": "email", "payload": {"to": "a@example.org"}}


@pytest.mark.parametrize(
    ("plural", "operation", "old", "new", "judged"),
    [
        ("backgroundjobs", "CREATE", None, JOB, True),
        # Labels, annotations, finalizers, status: the spec is unchanged.
        ("backgroundjobs", "UPDATE", JOB, JOB, False),
        # Controlling an existing job: cancel it, or keep it longer.
        ("backgroundjobs", "UPDATE", JOB, {**JOB, "cancel": True}, False),
        ("backgroundjobs", "UPDATE", JOB, {**JOB, "ttlAfterFinished": "1h"}, False),
        # Un-cancelling resumes work: judged.
        ("backgroundjobs", "UPDATE", {**JOB, "cancel": True}, {**JOB, "cancel": False}, True),
        # Changing the work itself is judged again.
        ("backgroundjobs", "UPDATE", JOB, {**JOB, "type": "emial"}, True),
        ("backgroundjobs", "UPDATE", JOB, {**JOB, "payload": {"to": "b@example.org"}}, True),
        ("backgroundjobs", "DELETE", JOB, None, False),
        ("jobschedules", "UPDATE", {"schedule": "@daily"}, {"schedule": "@daily", "suspend": True},
         False),
        ("jobschedules", "UPDATE", {"schedule": "@daily"}, {"schedule": "@hourly"}, True),
        # Resuming a schedule starts new work: judged.
        ("jobschedules", "UPDATE", {"schedule": "@daily", "suspend": True},
         {"schedule": "@daily", "suspend": False}, True),
    ],
)  # fmt: skip
def test_only_what_defines_work_is_judged(
    plural: str, operation: str, old: dict[str, Any] | None, new: dict[str, Any] | None,
    judged: bool,
) -> None:  # fmt: skip
    assert needs_judging(plural, operation, old, new) is judged


REGISTRY = Registry.model_validate(
    {"maxPayloadBytes": 100, "handlers": {"email": {"image": "e"}, "report": {"image": "r"}}}
)
# No registry loaded yet: no type is refused (the operator keeps such a job
# Pending, UnknownType, until a handler is registered).
NO_HANDLERS = Registry.model_validate({})
BIG = {"x": "y" * 200}  # 208 bytes as the pod gets it


@pytest.mark.parametrize(
    ("spec", "registry", "refusal"),
    [
        pytest.param({"type": "email"}, REGISTRY, None, id="registered"),
        pytest.param({"type": "report", "payload": {"x": 1}}, REGISTRY, None, id="registered-2"),
        pytest.param(None, REGISTRY, "spec.type: Field required", id="no-spec"),
        pytest.param(
            {"type": "sms"}, REGISTRY,
            "spec.type: no handler is registered for 'sms' (registered: email, report)",
            id="unregistered-names-the-known",
        ),
        pytest.param({"type": "sms"}, NO_HANDLERS, None, id="no-registry-yet"),
        pytest.param(
            {"type": "email", "payload": BIG}, REGISTRY,
            "spec.payload: 208 bytes serialized, over the 100-byte cap", id="the-registrys-cap",
        ),
        # The schema's say comes first: a bad field of an unknown type names the field.
        pytest.param(
            {"type": "sms", "priority": "Top"}, REGISTRY, "spec.priority: Input should be",
            id="schema-before-registry",
        ),
    ],
)  # fmt: skip
def test_a_backgroundjob_is_admitted_or_refused_naming_the_field(
    spec: dict[str, Any] | None, registry: Registry, refusal: str | None
) -> None:
    got = check_backgroundjob(spec, registry)
    if refusal is None:
        assert got is None
    else:
        assert got is not None
        assert got.startswith(refusal), got


TEMPLATE = {"jobTemplate": {"spec": {"type": "email"}}}


def schedule(template_spec: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    template = {"jobTemplate": {"spec": template_spec}} if template_spec is not None else TEMPLATE
    return {"schedule": "0 9 * * *", **template, **spec}


@pytest.mark.parametrize(
    ("spec", "refusal"),
    [
        pytest.param(schedule(), None, id="admitted"),
        pytest.param(schedule(schedule="@every 30s", timeZone="Europe/Berlin"), None, id="every"),
        pytest.param(None, "spec.schedule: Field required; spec.jobTemplate: Field required",
                     id="no-spec"),
        pytest.param({"schedule": "@daily"}, "spec.jobTemplate: Field required", id="no-template"),
        pytest.param(schedule(schedule="@dialy"), "spec.schedule: unknown macro '@dialy'",
                     id="unknown-macro"),
        pytest.param(schedule(schedule="0 9 * *"), "spec.schedule: '0 9 * *' must have 5 fields",
                     id="four-fields"),
        pytest.param(schedule(schedule="0 0 30 2 *"), "spec.schedule: '0 0 30 2 *' never fires",
                     id="never-fires"),
        pytest.param(schedule(timeZone="Mars/Olympus"),
                     "spec.timeZone: 'Mars/Olympus' is not an IANA time zone", id="bad-zone"),
        # The template is judged as a BackgroundJob, its fields named where they are.
        pytest.param(schedule({"type": "sms"}),
                     "spec.jobTemplate.spec.type: no handler is registered for 'sms'",
                     id="template-unregistered-type"),
        pytest.param(schedule({"type": "email", "payload": BIG}),
                     "spec.jobTemplate.spec.payload: 208 bytes serialized", id="template-payload"),
        pytest.param(schedule({"type": "email", "timeout": "1ms"}),
                     "spec.jobTemplate.spec.timeout: '1ms' is under the 1s minimum",
                     id="template-timeout"),
        pytest.param(schedule({"type": "email", "priority": "Top"}),
                     "spec.jobTemplate.spec.priority: Input should be", id="template-schema"),
        # One reason at a time, the schedule's before the template's.
        pytest.param(schedule({"type": "sms"}, schedule="@dialy"),
                     "spec.schedule: unknown macro", id="schedule-before-template"),
    ],
)  # fmt: skip
def test_a_jobschedule_is_admitted_or_refused_naming_the_field(
    spec: dict[str, Any] | None, refusal: str | None
) -> None:
    got = check_jobschedule(spec, REGISTRY)
    if refusal is None:
        assert got is None
    else:
        assert got is not None
        assert got.startswith(refusal), got
