"""The attempt Job's pod: what a real kubelet gives the handler."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bgjobs.logic.validation import InvalidSpec, effective, parse_spec, payload_text
from bgjobs.manifests.attempt_job import OUTCOME_FINALIZER, attempt_job
from bgjobs.models.backgroundjob import BackgroundJobSpec
from bgjobs.models.registry import Registry


def manifest(
    created_at: datetime = datetime(2026, 3, 1, tzinfo=UTC),
    handler: dict[str, object] | None = None,
    **spec: object,
) -> dict[str, object]:
    entry = {"image": "bgjobs/handler-email:0.1.0", "timeout": "90s", **(handler or {})}
    registry = Registry.model_validate({"handlers": {"email": entry}})
    parsed = BackgroundJobSpec.model_validate({"type": "email", "payload": {}, **spec})
    return attempt_job(
        name="welcome",
        namespace="app",
        uid="u-1",
        spec=parsed,
        handler=registry.handlers["email"],
        settings=effective(parsed, registry),
        attempt=2,
        created_at=created_at,
    )


def pod_of(job: dict[str, object]) -> dict[str, object]:
    return job["spec"]["template"]["spec"]  # type: ignore[index,return-value]


def pod_env(job: dict[str, object]) -> dict[str, str]:
    pod = job["spec"]["template"]["spec"]  # type: ignore[index]
    return {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}


@pytest.mark.parametrize(
    ("created_at", "spec", "deadline"),
    [
        # The handler's timeout (90s) when the job sets none.
        (datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC), {}, "2026-03-01T12:01:30Z"),
        # The job's own timeout wins; an aware local time is written in UTC.
        (
            datetime(2026, 3, 1, 13, 0, 0, tzinfo=timezone(timedelta(hours=1))),
            {"timeout": "10m"},
            "2026-03-01T12:10:00Z",
        ),
        # Sub-second creation times are cut to the second (never later than the real one).
        (datetime(2026, 3, 1, 23, 59, 59, 900_000, tzinfo=UTC), {}, "2026-03-02T00:01:29Z"),
    ],
)
def test_the_handler_is_told_when_its_timeout_runs_out(
    created_at: datetime, spec: dict[str, object], deadline: str
) -> None:
    job = manifest(created_at, **spec)
    assert pod_env(job)["BGJOB_DEADLINE"] == deadline
    seconds = job["spec"]["activeDeadlineSeconds"]  # type: ignore[index]
    assert seconds == (600 if spec else 90)


def test_the_pod_gets_no_service_links() -> None:
    job = manifest()
    assert pod_of(job)["enableServiceLinks"] is False
    assert pod_env(job)["BGJOB_ATTEMPT"] == "2"


def test_the_pod_passes_the_restricted_standard_by_default() -> None:
    pod = pod_of(manifest())
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = pod["containers"]  # type: ignore[misc]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
    }
    # A read-only root, but somewhere to write: /tmp.
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    # No API token for a handler that runs under no account of its own.
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize(
    ("handler", "expect"),
    [
        # An own account: its token is mounted.
        ({"serviceAccountName": "cleanup"}, {"automountServiceAccountToken": True}),
        # ... unless the registry says not to.
        (
            {"serviceAccountName": "cleanup", "automountServiceAccountToken": False},
            {"automountServiceAccountToken": False},
        ),
        # The registry replaces the defaults wholesale.
        ({"podSecurityContext": {"runAsUser": 0}}, {"securityContext": {"runAsUser": 0}}),
    ],
)
def test_the_registry_overrides_the_pod_settings(
    handler: dict[str, object], expect: dict[str, object]
) -> None:
    pod = pod_of(manifest(handler=handler))
    assert {k: pod[k] for k in expect} == expect


def test_a_container_security_context_from_the_registry_replaces_the_default() -> None:
    job = manifest(handler={"securityContext": {"privileged": False}})
    (container,) = pod_of(job)["containers"]  # type: ignore[misc]
    assert container["securityContext"] == {"privileged": False}


def test_the_payload_cap_measures_what_the_pod_receives() -> None:
    """A payload of non-ASCII text just under the cap fits in the pod as it is
    (an ASCII-escaped env value would be up to six times larger)."""
    text = "🎉" * 16_000  # 4 bytes each in UTF-8: 64,000 bytes
    job = manifest(payload={"t": text})
    value = pod_env(job)["BGJOB_PAYLOAD"]
    assert json.loads(value) == {"t": text}
    assert len(value.encode()) == len(payload_text({"t": text}).encode()) <= 65_536
    with pytest.raises(InvalidSpec, match=r"spec\.payload: 64011 bytes"):
        parse_spec({"type": "email", "payload": {"t": text + "x" * 3}}, 64_010)


def test_the_job_keeps_its_outcome_until_the_operator_has_read_it() -> None:
    job = manifest()
    assert job["metadata"]["finalizers"] == [OUTCOME_FINALIZER]
    assert OUTCOME_FINALIZER == "bgjobs.io/outcome"
