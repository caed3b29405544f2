"""What the operator keeps of objects between reconciles, and how jobs are selected."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from bgjobs.client import field_selector
from bgjobs.models.common import Phase
from bgjobs.runtime import slim
from bgjobs.runtime.reconciler import status_of
from bgjobs.runtime.workqueue import WorkQueue


def bgjob(phase: str | None, rv: str = "7") -> dict[str, Any]:
    status: dict[str, Any] = {"attempts": [{"attempt": 1, "jobName": "j-a1"}] * 10}
    if phase:
        status |= {"phase": phase, "reason": phase, "completedAt": "2026-11-30T00:00:00Z"}
    return {
        "apiVersion": "bgjobs.io/v1alpha1",
        "kind": "BackgroundJob",
        "metadata": {
            "name": "j",
            "namespace": "ns",
            "uid": "u-1",
            "resourceVersion": rv,
            "creationTimestamp": "2026-11-30T00:00:00Z",
            "ownerReferences": [
                {"apiVersion": "bgjobs.io/v1alpha1", "kind": "JobSchedule", "name": "s", "uid": "s"}
            ],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{" + "x" * 5000 + "}",
                "team": "growth",
            },
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}] * 20,
        },
        "spec": {"type": "email", "ttlAfterFinished": "1h", "payload": {"blob": "x" * 10000}},
        "status": status,
    }


def size(body: Any) -> int:
    return len(json.dumps(body))


def test_a_live_job_is_kept_whole_without_managed_fields_or_applied_copy() -> None:
    kept = slim.keep_bgjob(bgjob("Running"))
    assert isinstance(kept, dict)
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"team": "growth"}
    assert kept["spec"]["payload"] == {"blob": "x" * 10000}
    assert kept["status"]["attempts"]
    assert not kept.get(slim.SLIM)


def test_a_finished_job_is_a_summary_of_what_its_reconciles_read() -> None:
    body = bgjob("Failed")
    body["metadata"]["annotations"]["bgjobs.io/retry"] = "again"
    body["status"]["handledRetry"] = "once"
    kept = slim.keep_bgjob(body)
    assert isinstance(kept, slim.Summary)
    read = slim.expand(kept)
    assert read[slim.SLIM]
    assert read["spec"] == {"type": "email", "ttlAfterFinished": "1h"}  # its retention
    assert read["metadata"]["annotations"] == {"bgjobs.io/retry": "again"}  # a retry asked for
    assert read["status"]["handledRetry"] == "once"
    assert read["status"]["attempts"][0] == {"attempt": 1, "jobName": "j-a1"}  # Jobs to release
    assert read["metadata"]["ownerReferences"] == [{"kind": "JobSchedule", "name": "s", "uid": "s"}]
    assert read["metadata"]["resourceVersion"] == "7"
    # What the reconciler makes of it: still finished, the same attempts.
    status = status_of(read)
    assert status.phase == Phase.FAILED
    assert [a.job_name for a in status.attempts] == ["j-a1"] * 10
    # Kept as a few slots: the dicts exist only while a reconcile reads them.
    held = sys.getsizeof(kept) + sys.getsizeof(kept.attempts) + sys.getsizeof(kept.owners)
    print(f"{size(body)} bytes of JSON whole; the summary's record {held} bytes")
    assert held < 500
    assert slim.keep_bgjob(kept) is kept  # a summary stays one


def test_a_job_refused_as_invalid_is_kept_whole() -> None:
    body = bgjob("Failed")
    body["status"]["reason"] = "InvalidSpec"
    assert isinstance(slim.keep_bgjob(body), dict)


def test_an_attempt_job_is_kept_without_its_pod_template() -> None:
    job = {
        "metadata": {"name": "j-a1", "finalizers": ["f"], "managedFields": [{}]},
        "spec": {"template": {"spec": {"containers": [{"env": [{"value": "x" * 9000}]}]}}},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]},
    }
    kept = slim.attempt_job(job)
    assert kept == {"metadata": {"name": "j-a1", "finalizers": ["f"]}, "status": job["status"]}


def test_the_work_queue_keeps_a_finished_job_as_a_summary() -> None:
    queue = WorkQueue(workers=1, keep=slim.keep_bgjob, expand=slim.expand)
    queue.add(("ns", "j"), bgjob("Completed"))
    cached = queue.cached(("ns", "j"))
    assert isinstance(cached, dict)
    assert cached[slim.SLIM]
    queue.add(("ns", "j"), bgjob("Running", rv="8"))  # retried: live again, kept whole
    cached = queue.cached(("ns", "j"))
    assert isinstance(cached, dict)
    assert not cached.get(slim.SLIM)


@pytest.mark.parametrize(
    ("args", "selector"),
    [
        ({}, None),
        ({"type": "email"}, "spec.type=email"),
        ({"phase": "failed", "priority": "URGENT"}, "status.phase=Failed,status.priority=Urgent"),
        (
            {"phase": "Pending"},
            "status.phase!=Running,status.phase!=Retrying,status.phase!=Completed,"
            "status.phase!=Failed,status.phase!=Cancelled",
        ),
    ],
)
def test_filters_become_field_selectors(args: dict[str, str], selector: str | None) -> None:
    assert field_selector(**args) == selector


def test_a_bad_filter_names_the_field_and_the_choices() -> None:
    with pytest.raises(ValueError, match=r"phase: expected one of Pending, .*got 'done'"):
        field_selector(phase="done")
    with pytest.raises(ValueError, match=r"priority: expected one of Low, Normal, High, Urgent"):
        field_selector(priority="meh")
