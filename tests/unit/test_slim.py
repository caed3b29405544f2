"""What the operator keeps of objects between reconciles, and how jobs are selected."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bgjobs.client import field_selector
from bgjobs.runtime import slim
from bgjobs.runtime.health import Health
from bgjobs.runtime.workqueue import WorkQueue
from tests.support.poll import eventually


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
    kept = slim.keep_bgjob(bgjob("Running"), True)
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"team": "growth"}
    assert kept["spec"]["payload"] == {"blob": "x" * 10000}
    assert kept["status"]["attempts"]
    assert not kept.get(slim.SLIM)


def test_a_settled_finished_job_is_a_summary_of_a_few_hundred_bytes() -> None:
    body = bgjob("Completed")
    kept = slim.keep_bgjob(body, True)
    assert kept[slim.SLIM]
    assert kept["spec"] == {"type": "email", "ttlAfterFinished": "1h"}
    assert kept["status"] == {
        "phase": "Completed",
        "reason": "Completed",
        "completedAt": "2026-11-30T00:00:00Z",
    }
    assert kept["metadata"]["ownerReferences"][0]["kind"] == "JobSchedule"
    assert kept["metadata"]["resourceVersion"] == "7"
    print(f"{size(body)} bytes whole, {size(kept)} as a summary")
    assert size(kept) < 500
    # A finished job whose reconcile is still due is kept whole until it settles.
    assert not slim.keep_bgjob(body, False).get(slim.SLIM)
    # A summary stays one.
    assert slim.keep_bgjob(kept, True) is kept


def test_an_attempt_job_is_kept_without_its_pod_template() -> None:
    job = {
        "metadata": {"name": "j-a1", "finalizers": ["f"], "managedFields": [{}]},
        "spec": {"template": {"spec": {"containers": [{"env": [{"value": "x" * 9000}]}]}}},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]},
    }
    kept = slim.attempt_job(job)
    assert kept == {"metadata": {"name": "j-a1", "finalizers": ["f"]}, "status": job["status"]}


async def test_the_work_queue_summarises_a_finished_job_once_its_reconcile_ended() -> None:
    seen: list[Any] = []

    async def handle(key: Any, body: Any, seen_at: float) -> None:
        seen.append(body)

    queue = WorkQueue(handle, workers=1, keep=slim.keep_bgjob)
    queue.add(("ns", "j"), bgjob("Completed"))
    assert not queue.cached(("ns", "j")).get(slim.SLIM)  # due: kept whole
    queue.start(Health(faults={}))
    await eventually(lambda: _settled(queue), within=5, what="the reconcile to end")
    await queue.stop()
    assert seen[0]["status"]["attempts"], "the reconcile got the whole object"
    # An older version never replaces a newer one, summary or not.
    queue.remember(("ns", "j"), bgjob("Running", rv="6"))
    assert queue.cached(("ns", "j"))[slim.SLIM]


async def _settled(queue: WorkQueue) -> bool:
    return not queue.busy(("ns", "j")) and bool(queue.cached(("ns", "j")).get(slim.SLIM))


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
