"""BackgroundJob + handler config → the batch/v1 Job of one attempt.

The pod gets the handler contract's env (``BGJOB_*``), the registry's image
and settings, ``backoffLimit: 0`` (bgjobs does the retrying, with backoff),
``activeDeadlineSeconds`` = the attempt timeout, and a podFailurePolicy that
ignores disruptions (an evicted pod is replaced inside the same attempt) and
fails fast on the permanent exit code. ``BGJOB_DEADLINE`` tells the handler
when the timeout runs out, so that the SDK can tell a deadline's SIGTERM from
a deletion's. The pod passes the ``restricted`` Pod Security Standard by
default (non-root, no privilege escalation, no capabilities, RuntimeDefault
seccomp, a read-only root with a scratch /tmp) and mounts an API token only
when the handler runs under its own account.

The Job carries the ``bgjobs.io/outcome`` finalizer: deleting it (a TTL a
policy injected, a person, the garbage collector) waits until the operator
has recorded the attempt's outcome on the BackgroundJob, so an outcome is
never lost and the work never re-run for want of it.
"""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime
from typing import Any

from bgjobs import API_GROUP, API_VERSION
from bgjobs.logic.naming import attempt_job_name
from bgjobs.logic.outcome import PERMANENT_EXIT_CODE
from bgjobs.logic.validation import Effective, payload_text
from bgjobs.models.backgroundjob import KIND, BackgroundJobSpec
from bgjobs.models.registry import HandlerConfig
from bgjobs.vocabulary import (
    LABEL_ATTEMPT,
    LABEL_JOB,
    LABEL_TYPE,
    MANAGED_BY,
    OUTCOME_FINALIZER,
    label_value,
)

CONTAINER = "handler"
SCRATCH = "tmp"
# What the `restricted` Pod Security Standard asks for, plus a read-only root
# filesystem; the registry's podSecurityContext / securityContext replace them.
# runAsNonRoot needs a numeric USER in the image (the shipped ones run as 10001).
RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}


def attempt_label(name: str) -> str:
    """The ``bgjobs.io/job`` label value of a BackgroundJob's attempt Jobs."""
    return label_value(name)


def attempt_job(
    *,
    name: str,
    namespace: str,
    uid: str,
    spec: BackgroundJobSpec,
    handler: HandlerConfig,
    settings: Effective,
    attempt: int,
    created_at: datetime,
) -> dict[str, Any]:
    job_name = attempt_job_name(name, attempt)
    deadline = created_at.astimezone(UTC) + settings.timeout
    labels = {
        **MANAGED_BY,
        LABEL_JOB: attempt_label(name),
        LABEL_TYPE: spec.type,
        LABEL_ATTEMPT: str(attempt),
    }
    contract_env = {
        "BGJOB_PAYLOAD": payload_text(spec.payload),
        "BGJOB_NAME": name,
        "BGJOB_NAMESPACE": namespace,
        "BGJOB_UID": uid,
        "BGJOB_TYPE": spec.type,
        "BGJOB_ATTEMPT": str(attempt),
        "BGJOB_IDEMPOTENCY_KEY": uid,
        "BGJOB_DEADLINE": deadline.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    env = [{"name": k, "value": v} for k, v in contract_env.items()]
    env += [e for e in handler.env if e.get("name") not in contract_env]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": handler.image,
        "env": env,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if handler.env_from:
        container["envFrom"] = handler.env_from
    if handler.resources:
        container["resources"] = handler.resources
    if handler.image_pull_policy:
        container["imagePullPolicy"] = handler.image_pull_policy
    container["securityContext"] = (
        handler.security_context
        if handler.security_context is not None
        else copy.deepcopy(RESTRICTED_CONTAINER)
    )
    container["volumeMounts"] = [{"name": SCRATCH, "mountPath": "/tmp"}]
    # enableServiceLinks off: the handler gets the contract's env, not one
    # Docker-link variable per Service in its namespace.
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "securityContext": (
            handler.pod_security_context
            if handler.pod_security_context is not None
            else copy.deepcopy(RESTRICTED_POD)
        ),
        # The API token only for handlers that talk to the API (their own account).
        "automountServiceAccountToken": (
            handler.automount_service_account_token
            if handler.automount_service_account_token is not None
            else bool(handler.service_account_name)
        ),
        "containers": [container],
        # The root filesystem is read-only: /tmp is a small scratch volume.
        "volumes": [{"name": SCRATCH, "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    if handler.service_account_name:
        pod_spec["serviceAccountName"] = handler.service_account_name
    if handler.node_selector:
        pod_spec["nodeSelector"] = handler.node_selector
    if handler.tolerations:
        pod_spec["tolerations"] = handler.tolerations
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": namespace,
            "labels": labels,
            "finalizers": [OUTCOME_FINALIZER],
            "ownerReferences": [
                {
                    "apiVersion": f"{API_GROUP}/{API_VERSION}",
                    "kind": KIND,
                    "name": name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": max(1, math.ceil(settings.timeout.total_seconds())),
            "podFailurePolicy": {
                "rules": [
                    {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": CONTAINER,
                            "operator": "In",
                            "values": [PERMANENT_EXIT_CODE],
                        },
                    },
                ]
            },
            "template": {
                "metadata": {
                    "labels": {**handler.pod_labels, **labels},
                    "annotations": dict(handler.pod_annotations),
                },
                "spec": pod_spec,
            },
        },
    }
