"""Read an attempt's outcome from its batch/v1 Job and pod.

The handler contract: exit 0 and a JSON termination message is success; exit
3 is a permanent failure; any other exit, a deadline or an OOM kill is
retryable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bgjobs.models.common import parse_time

PERMANENT_EXIT_CODE = 3
MAX_ERROR = 1024


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    permanent: bool
    reason: str  # Completed, PermanentFailure, DeadlineExceeded, OOMKilled, Error, ...
    error: str  # empty on success
    exit_code: int | None
    message: str  # the termination message, as written
    pod_name: str | None
    finished_at: datetime | None

    @classmethod
    def lost(cls, error: str, now: datetime) -> Outcome:
        """The attempt's Job went before it finished: a retryable ``JobLost``."""
        return cls(False, False, "JobLost", error, None, "", None, now)

    @property
    def result(self) -> Any:
        """The handler's result: the termination message as JSON (raw text if not JSON)."""
        if not self.message.strip():
            return None
        try:
            return json.loads(self.message)
        except ValueError:
            return self.message


def _terminal_condition(job: dict[str, Any]) -> tuple[str, str, str] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") in ("Complete", "Failed") and cond.get("status") == "True":
            return cond["type"], cond.get("reason") or "", cond.get("message") or ""
    return None


def ended(job: dict[str, Any]) -> bool:
    """The Job has run its course (or is being deleted): its dispatch slot can go."""
    return _terminal_condition(job) is not None or bool(job["metadata"].get("deletionTimestamp"))


def _last_terminated(pods: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(pod, terminated state) of the pod that finished last."""
    found = []
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            term = (status.get("state") or {}).get("terminated")
            if term:
                found.append((term.get("finishedAt") or "", pod, term))
                break
    if not found:
        return None
    _, pod, term = max(found, key=lambda item: item[0])
    return pod, term


def classify(job: dict[str, Any], pods: list[dict[str, Any]]) -> Outcome | None:
    """The outcome of a finished attempt, or ``None`` while it is still going."""
    terminal = _terminal_condition(job)
    if terminal is None:
        return None
    kind, job_reason, job_message = terminal
    found = _last_terminated(pods)
    pod_name = found[0]["metadata"]["name"] if found else None
    term = found[1] if found else {}
    exit_code = term.get("exitCode")
    message = (term.get("message") or "").strip()
    finished = parse_time(term.get("finishedAt")) or parse_time(
        (job.get("status") or {}).get("completionTime")
    )
    if kind == "Complete":
        return Outcome(True, False, "Completed", "", exit_code, message, pod_name, finished)

    term_reason = term.get("reason") or ""
    detail = f": {message}" if message else ""
    if exit_code == PERMANENT_EXIT_CODE or (not found and job_reason == "PodFailurePolicy"):
        # Without the pod (deleted, garbage-collected), the Job's condition
        # says it: the only FailJob rule of an attempt is exit code 3.
        reason, permanent = "PermanentFailure", True
        error = f"exit code 3 (permanent failure){detail or f': {job_message}'}"
    elif job_reason == "DeadlineExceeded":
        reason, permanent = "DeadlineExceeded", False
        # The handler's own words (the SDK's SIGTERM message) when its pod was seen.
        error = f"attempt exceeded its timeout ({job_message or 'DeadlineExceeded'}){detail}"
    elif exit_code == 137 or term_reason == "OOMKilled":
        reason, permanent = "OOMKilled", False
        error = f"exit code {exit_code} (OOMKilled){detail}"
    elif exit_code is not None:
        reason, permanent = "Error", False
        error = f"exit code {exit_code} ({term_reason or 'Error'}){detail}"
    else:
        reason, permanent = job_reason or "PodFailed", False
        error = f"attempt failed: {job_message or job_reason or 'no pod status'}"
    return Outcome(
        False, permanent, reason, error[:MAX_ERROR], exit_code, message, pod_name, finished
    )
