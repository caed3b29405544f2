"""Builders for batch/v1 Jobs whose pods the local kwok cluster finishes on cue.

The kwok Stages in ``hack/kwok/stages.yaml`` read ``fake.bgjobs.io/*`` pod
annotations (or a ``_fake`` object in the ``BGJOB_PAYLOAD`` env JSON) to decide
how a pod ends: exit code (optionally one per attempt), termination message,
reason, how long it runs, or that it hangs until something else ends it.
"""

from __future__ import annotations

import json
from typing import Any

FAKE = "fake.bgjobs.io/"


def fake_outcome(
    *,
    exit_code: int | str | None = None,
    message: str | None = None,
    reason: str | None = None,
    run_for: str | None = None,
    hang: bool = False,
) -> dict[str, str]:
    """Pod annotations that tell the kwok Stages how the pod should end."""
    out: dict[str, str] = {}
    if exit_code is not None:
        out[FAKE + "exit-code"] = str(exit_code)
    if message is not None:
        out[FAKE + "message"] = message
    if reason is not None:
        out[FAKE + "reason"] = reason
    if run_for is not None:
        out[FAKE + "run-for"] = run_for
    if hang:
        out[FAKE + "hang"] = "true"
    return out


def batch_job(
    name: str,
    *,
    pod_annotations: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    active_deadline_seconds: int | None = None,
    pod_failure_policy: dict[str, Any] | None = None,
    image: str = "bgjobs.local/fake-handler:test",
) -> dict[str, Any]:
    """A minimal batch/v1 Job with one container and ``backoffLimit: 0``."""
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        "template": {
            "metadata": {"annotations": pod_annotations or {}},
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {
                        "name": "handler",
                        "image": image,
                        "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                        "terminationMessagePolicy": "FallbackToLogsOnError",
                    }
                ],
            },
        },
    }
    if active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = active_deadline_seconds
    if pod_failure_policy is not None:
        spec["podFailurePolicy"] = pod_failure_policy
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": spec,
    }


def payload_env(payload: dict[str, Any], attempt: int = 1) -> dict[str, str]:
    """The handler env the operator sets, carrying ``payload`` (and its ``_fake``)."""
    return {"BGJOB_PAYLOAD": json.dumps(payload), "BGJOB_ATTEMPT": str(attempt)}
