"""The attempt's batch/v1 Job: what the Job controller and a real kubelet
are told, and what the handler gets."""

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest

from bgjobs import API_GROUP, API_VERSION
from bgjobs.logic.naming import attempt_job_name
from bgjobs.logic.outcome import PERMANENT_EXIT_CODE
from bgjobs.logic.validation import InvalidSpec, effective, parse_spec, payload_text
from bgjobs.manifests.attempt_job import attempt_job, attempt_label
from bgjobs.models.backgroundjob import BackgroundJobSpec
from bgjobs.models.registry import Registry
from bgjobs.vocabulary import OUTCOME_FINALIZER


def manifest(
    created_at: datetime = datetime(2026, 3, 1, tzinfo=UTC),
    handler: dict[str, object] | None = None,
    **spec: object,
) -> dict[str, Any]:
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


def pod_of(job: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], job["spec"]["template"]["spec"])


def pod_env(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in pod_of(job)["containers"][0]["env"]}


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
    job = manifest(created_at, None, **spec)
    assert pod_env(job)["BGJOB_DEADLINE"] == deadline
    seconds = job["spec"]["activeDeadlineSeconds"]
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
    (container,) = pod["containers"]
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
    (container,) = pod_of(job)["containers"]
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


def container_of(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return cast(dict[str, Any], container)


def test_the_attempt_runs_the_registrys_image_once_as_a_job_of_its_own() -> None:
    job = manifest()
    assert job["metadata"]["name"] == attempt_job_name("welcome", 2)
    assert job["metadata"]["namespace"] == "app"
    assert container_of(job)["image"] == "bgjobs/handler-email:0.1.0"
    # bgjobs retries (with backoff, as a new attempt): the Job never does.
    assert job["spec"]["backoffLimit"] == 0
    assert pod_of(job)["restartPolicy"] == "Never"
    # A crash without a termination message leaves its log's tail as the error.
    assert container_of(job)["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_the_job_belongs_to_its_backgroundjob_and_has_no_lifetime_of_its_own() -> None:
    job = manifest()
    assert job["metadata"]["ownerReferences"] == [
        {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "BackgroundJob",
            "name": "welcome",
            "uid": "u-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    # Deleted with its BackgroundJob (whose ttlAfterFinished decides), never before.
    assert "ttlSecondsAfterFinished" not in job["spec"]


def test_an_evicted_pod_is_replaced_and_exit_3_fails_the_attempt_at_once() -> None:
    job = manifest()
    ignore, fail = job["spec"]["podFailurePolicy"]["rules"]
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}
    assert fail["action"] == "FailJob"
    assert fail["onExitCodes"] == {
        "containerName": container_of(job)["name"],
        "operator": "In",
        "values": [PERMANENT_EXIT_CODE],
    }


def test_the_job_and_its_pod_are_labelled_for_lookups() -> None:
    job = manifest(handler={"podLabels": {"team": "mail", "bgjobs.io/type": "spoofed"}})
    ours = {
        "app.kubernetes.io/managed-by": "bgjobs",
        "bgjobs.io/job": "welcome",
        "bgjobs.io/type": "email",
        "bgjobs.io/attempt": "2",
    }
    assert job["metadata"]["labels"] == ours
    # The registry's pod labels are added; ours win where they clash.
    assert job["spec"]["template"]["metadata"]["labels"] == {"team": "mail", **ours}


def test_a_long_job_name_fits_the_label_and_the_job_name() -> None:
    long = "x" * 100
    registry = Registry.model_validate({"handlers": {"email": {"image": "e"}}})
    spec = BackgroundJobSpec.model_validate({"type": "email"})
    job = attempt_job(
        name=long,
        namespace="app",
        uid="u-1",
        spec=spec,
        handler=registry.handlers["email"],
        settings=effective(spec, registry),
        attempt=1,
        created_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert job["metadata"]["labels"]["bgjobs.io/job"] == attempt_label(long)
    assert job["metadata"]["name"] == attempt_job_name(long, 1)
    assert len(job["metadata"]["name"]) <= 63
    assert pod_env(job)["BGJOB_NAME"] == long  # the handler gets the full name


def test_the_handler_gets_the_contracts_env() -> None:
    job = manifest(payload={"to": "a@example.org", "name": "Zoë"})
    env = pod_env(job)
    assert json.loads(env["BGJOB_PAYLOAD"]) == {"to": "a@example.org", "name": "Zoë"}
    assert "Zoë" in env["BGJOB_PAYLOAD"]  # not ASCII-escaped: what the cap measured
    assert {k: env[k] for k in ("BGJOB_NAME", "BGJOB_NAMESPACE", "BGJOB_TYPE")} == {
        "BGJOB_NAME": "welcome",
        "BGJOB_NAMESPACE": "app",
        "BGJOB_TYPE": "email",
    }
    # The same key on every attempt: the UID, not the attempt's Job.
    assert env["BGJOB_UID"] == env["BGJOB_IDEMPOTENCY_KEY"] == "u-1"
    assert env["BGJOB_ATTEMPT"] == "2"


SECRET_REF = {"secretKeyRef": {"name": "smtp", "key": "password"}}


@pytest.mark.parametrize(
    ("handler_env", "expect"),
    [
        pytest.param([{"name": "SMTP_HOST", "value": "mail"}], {"SMTP_HOST": "mail"}, id="plain"),
        pytest.param([{"name": "SMTP_PASSWORD", "valueFrom": SECRET_REF}],
                     {"SMTP_PASSWORD": SECRET_REF}, id="from-a-secret"),
        # The contract's variables cannot be overridden by the registry.
        pytest.param([{"name": "BGJOB_ATTEMPT", "value": "1"}, {"name": "A", "value": "a"}],
                     {"BGJOB_ATTEMPT": "2", "A": "a"}, id="contract-wins"),
    ],
)  # fmt: skip
def test_the_registrys_env_is_added_to_the_contracts(
    handler_env: list[dict[str, Any]], expect: dict[str, Any]
) -> None:
    env = container_of(manifest(handler={"env": handler_env}))["env"]
    names = [e["name"] for e in env]
    assert len(names) == len(set(names)), names  # each variable once
    by_name = {e["name"]: e.get("value", e.get("valueFrom")) for e in env}
    assert {k: by_name[k] for k in expect} == expect


@pytest.mark.parametrize(
    ("entry", "where", "key", "value"),
    [
        pytest.param({"envFrom": [{"secretRef": {"name": "smtp"}}]}, "container", "envFrom",
                     [{"secretRef": {"name": "smtp"}}], id="envFrom"),
        pytest.param({"resources": {"limits": {"memory": "128Mi"}}}, "container", "resources",
                     {"limits": {"memory": "128Mi"}}, id="resources"),
        pytest.param({"imagePullPolicy": "Never"}, "container", "imagePullPolicy", "Never",
                     id="imagePullPolicy"),
        pytest.param({"serviceAccountName": "cleanup"}, "pod", "serviceAccountName", "cleanup",
                     id="serviceAccountName"),
        pytest.param({"nodeSelector": {"pool": "batch"}}, "pod", "nodeSelector",
                     {"pool": "batch"}, id="nodeSelector"),
        pytest.param({"tolerations": [{"key": "batch", "operator": "Exists"}]}, "pod",
                     "tolerations", [{"key": "batch", "operator": "Exists"}], id="tolerations"),
        pytest.param({"podAnnotations": {"team": "mail"}}, "template", "annotations",
                     {"team": "mail"}, id="podAnnotations"),
    ],
)  # fmt: skip
def test_the_registrys_settings_reach_the_pod_and_only_when_set(
    entry: dict[str, Any], where: str, key: str, value: object
) -> None:
    def place(job: dict[str, Any]) -> dict[str, Any]:
        template = job["spec"]["template"]
        places: dict[str, dict[str, Any]] = {
            "container": container_of(job),
            "pod": template["spec"],
            "template": template["metadata"],
        }
        return places[where]

    assert place(manifest(handler=entry))[key] == value
    assert place(manifest()).get(key) in (None, {})


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [
        pytest.param("1s", 1, id="one-second"),
        pytest.param("1500ms", 2, id="rounded-up"),
        pytest.param("1h", 3600, id="an-hour"),
    ],
)
def test_the_job_is_stopped_when_the_timeout_runs_out(timeout: str, seconds: int) -> None:
    assert manifest(timeout=timeout)["spec"]["activeDeadlineSeconds"] == seconds
