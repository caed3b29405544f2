"""Reading an attempt's outcome from its Job and pod JSON."""

from datetime import UTC, datetime
from typing import Any

import pytest

from bgjobs.logic.outcome import Outcome, classify, ended


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
def test_failures(
    batch: dict[str, Any], pods: list[dict[str, Any]], reason: str, permanent: bool
) -> None:
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


@pytest.mark.parametrize(
    ("batch", "over"),
    [
        pytest.param(job(None), False, id="running"),
        pytest.param(job("Complete"), True, id="complete"),
        pytest.param(job("Failed", "DeadlineExceeded"), True, id="failed"),
        pytest.param({"status": {"conditions": [{"type": "Failed", "status": "False"}]}}, False,
                     id="condition-not-true"),
        pytest.param({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}}, False,
                     id="other-condition"),
        pytest.param({}, False, id="no-status-yet"),
        # Being deleted: the dispatch slot is free before the Job is gone.
        pytest.param({**job(None), "metadata": {"deletionTimestamp": "2026-11-28T12:00:00Z"}},
                     True, id="being-deleted"),
    ],
)  # fmt: skip
def test_a_job_frees_its_dispatch_slot_once_it_has_ended(batch: dict[str, Any], over: bool) -> None:
    assert ended({"metadata": {}, **batch}) is over


@pytest.mark.parametrize(
    ("message", "result"),
    [
        pytest.param("", None, id="none-written"),
        pytest.param("  \n", None, id="blank"),
        pytest.param('{"sent": 2}', {"sent": 2}, id="json"),
        pytest.param("[1, 2]", [1, 2], id="json-list"),
        pytest.param("sent", "sent", id="text"),
    ],
)
def test_a_success_result_is_the_json_the_handler_wrote(message: str, result: Any) -> None:
    out = classify(job("Complete"), [pod(0, message)])
    assert out is not None
    assert out.succeeded
    assert out.result == result


def test_a_job_lost_before_it_finished_is_retried() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    out = Outcome.lost("the attempt's Job was deleted", now)
    assert (out.succeeded, out.permanent, out.reason) == (False, False, "JobLost")
    assert (out.error, out.finished_at, out.result) == ("the attempt's Job was deleted", now, None)
