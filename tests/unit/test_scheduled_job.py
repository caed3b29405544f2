"""The BackgroundJob a JobSchedule creates for a slot: its template's spec and
metadata, owned by the schedule, labelled and annotated to be found again."""

from datetime import UTC, datetime
from typing import Any

import pytest

from bgjobs import API_GROUP, API_VERSION
from bgjobs.manifests.scheduled_job import scheduled_job
from bgjobs.models.backgroundjob import BackgroundJobSpec
from bgjobs.models.jobschedule import JobScheduleSpec

SLOT = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def child(template: dict[str, Any], schedule_name: str = "report") -> dict[str, Any]:
    spec = JobScheduleSpec.model_validate({"schedule": "0 9 * * *", "jobTemplate": template})
    return scheduled_job(
        schedule_name=schedule_name,
        namespace="app",
        uid="s-1",
        spec=spec,
        name="report-1780304400",
        scheduled_time=SLOT,
    )


@pytest.mark.parametrize(
    "template_spec",
    [
        pytest.param({"type": "report"}, id="type-only"),
        pytest.param(
            {
                "type": "report",
                "priority": "High",
                "payload": {"month": "2026-05", "to": ["a@example.org"]},
                "retryPolicy": {"maxRetries": 1, "initialDelay": "1m"},
                "timeout": "20m",
                "ttlAfterFinished": "72h",
            },
            id="every-field",
        ),
    ],
)
def test_the_job_runs_the_templates_spec(template_spec: dict[str, Any]) -> None:
    job = child({"spec": template_spec})
    assert (job["apiVersion"], job["kind"]) == (f"{API_GROUP}/{API_VERSION}", "BackgroundJob")
    assert (job["metadata"]["name"], job["metadata"]["namespace"]) == ("report-1780304400", "app")
    spec = BackgroundJobSpec.model_validate(job["spec"])
    assert spec == BackgroundJobSpec.model_validate(template_spec)
    assert None not in job["spec"].values()  # unset fields stay unset (defaults apply)


def test_the_job_belongs_to_its_schedule() -> None:
    assert child({"spec": {"type": "report"}})["metadata"]["ownerReferences"] == [
        {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "JobSchedule",
            "name": "report",
            "uid": "s-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


@pytest.mark.parametrize(
    ("metadata", "schedule_name", "labels", "annotations"),
    [
        pytest.param(
            {}, "report", {"bgjobs.io/schedule": "report"},
            {"bgjobs.io/scheduled-time": "2026-06-01T09:00:00Z"}, id="ours",
        ),
        pytest.param(
            {"labels": {"team": "finance"}, "annotations": {"owner": "ops@example.org"}},
            "report",
            {"team": "finance", "bgjobs.io/schedule": "report"},
            {"owner": "ops@example.org", "bgjobs.io/scheduled-time": "2026-06-01T09:00:00Z"},
            id="the-templates-too",
        ),
        # The template cannot hide the job from its schedule.
        pytest.param(
            {"labels": {"bgjobs.io/schedule": "other"},
             "annotations": {"bgjobs.io/scheduled-time": "never"}},
            "report",
            {"bgjobs.io/schedule": "report"},
            {"bgjobs.io/scheduled-time": "2026-06-01T09:00:00Z"},
            id="ours-win",
        ),
        # A label value holds 63 characters, and ends alphanumeric.
        pytest.param(
            {}, "r" * 62 + "-x" + "y" * 30, {"bgjobs.io/schedule": "r" * 62},
            {"bgjobs.io/scheduled-time": "2026-06-01T09:00:00Z"}, id="long-schedule-name",
        ),
    ],
)  # fmt: skip
def test_the_job_is_labelled_with_its_schedule_and_annotated_with_its_slot(
    metadata: dict[str, Any],
    schedule_name: str,
    labels: dict[str, str],
    annotations: dict[str, str],
) -> None:
    job = child({"metadata": metadata, "spec": {"type": "report"}}, schedule_name)
    assert job["metadata"]["labels"] == labels
    assert job["metadata"]["annotations"] == annotations
