"""Reading an attempt's outcome from its Job and pod JSON."""

from typing import Any

import pytest

from bgjobs.logic.outcome import classify


def job(kind: str | None, reason: str = "") -> dict[str, Any]:
    conditions = [{"type": kind, "status": "True", "reason": reason}] if kind else []
    return {"status": {"conditions": conditions}}


def pod(code: int, message: str = "", reason: str = "") -> dict[str, Any]:
    term = {
        "exitCode": code,
        "message": message,
        "reason": reason,
        "finishedAt": "2026-11-28T12:00:00Z",
    }
    return {
        "metadata": {"name": "p"},
        "status": {"containerStatuses": [{"state": {"terminated": term}}]},
    }


def test_running_job_has_no_outcome() -> None:
    assert classify(job(None), []) is None


def test_success_result_is_the_termination_message() -> None:
    out = classify(job("Complete"), [pod(0, '{"status": "sent"}')])
    assert out is not None
    assert out.succeeded
    assert out.result == {"status": "sent"}


@pytest.mark.parametrize(
    ("batch", "pods", "reason", "permanent"),
    [
        (job("Failed", "PodFailurePolicy"), [pod(3, "bad market")], "PermanentFailure", True),
        # The pod is gone: the Job's condition still says exit code 3.
        (job("Failed", "PodFailurePolicy"), [], "PermanentFailure", True),
        (job("Failed", "BackoffLimitExceeded"), [pod(1, "boom")], "Error", False),
        (job("Failed", "BackoffLimitExceeded"), [pod(137, "", "OOMKilled")], "OOMKilled", False),
        (job("Failed", "DeadlineExceeded"), [], "DeadlineExceeded", False),
        (job("Failed", "BackoffLimitExceeded"), [], "BackoffLimitExceeded", False),
    ],
)
def test_failures(batch: dict, pods: list, reason: str, permanent: bool) -> None:
    out = classify(batch, pods)
    assert out is not None
    assert (out.succeeded, out.reason, out.permanent) == (False, reason, permanent)
    assert out.error


def test_non_json_message_is_kept_as_text() -> None:
    out = classify(job("Complete"), [pod(0, "done")])
    assert out is not None
    assert out.result == "done"


def test_a_deadline_keeps_the_handlers_own_words_when_its_pod_was_seen() -> None:
    said = "deadline exceeded: the attempt's timeout passed, stopped by SIGTERM after 8.0s"
    out = classify(job("Failed", "DeadlineExceeded"), [pod(143, said, "Error")])
    assert out is not None
    assert (out.reason, out.permanent) == ("DeadlineExceeded", False)
    assert out.error.endswith(said), out.error
