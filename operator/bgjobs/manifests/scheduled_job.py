"""JobSchedule + slot → the BackgroundJob to create (deterministic name per slot)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bgjobs import API_GROUP, API_VERSION
from bgjobs.models.backgroundjob import KIND as BGJ_KIND
from bgjobs.models.jobschedule import KIND, JobScheduleSpec
from bgjobs.vocabulary import LABEL_SCHEDULE, SCHEDULED_TIME_ANNOTATION, label_value


def scheduled_job(
    *,
    schedule_name: str,
    namespace: str,
    uid: str,
    spec: JobScheduleSpec,
    name: str,
    scheduled_time: datetime,
) -> dict[str, Any]:
    template = spec.job_template
    labels = {**template.metadata.labels, LABEL_SCHEDULE: label_value(schedule_name)}
    annotations = {
        **template.metadata.annotations,
        SCHEDULED_TIME_ANNOTATION: scheduled_time.isoformat().replace("+00:00", "Z"),
    }
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": BGJ_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": f"{API_GROUP}/{API_VERSION}",
                    "kind": KIND,
                    "name": schedule_name,
                    "uid": uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template.spec.model_dump(by_alias=True, mode="json", exclude_none=True),
    }
