"""How long a finished job is kept: the job's say, else its type's, else the registry's."""

from datetime import timedelta

import pytest

from bgjobs.logic.validation import retention
from bgjobs.models.backgroundjob import BackgroundJobSpec
from bgjobs.models.registry import Registry

REGISTRY = Registry.model_validate(
    {
        "ttlAfterFinished": "24h",
        "handlers": {
            "email": {"image": "e"},
            "report": {"image": "r", "ttlAfterFinished": "1h"},
            "audit": {"image": "a", "ttlAfterFinished": "0s"},
        },
    }
)


@pytest.mark.parametrize(
    ("job_type", "job_ttl", "kept"),
    [
        ("email", None, timedelta(hours=24)),  # the registry's
        ("report", None, timedelta(hours=1)),  # its type's
        ("audit", None, None),  # its type keeps them
        ("audit", "10m", timedelta(minutes=10)),  # the job's own beats its type's
        ("email", "0s", None),  # the job keeps itself
        ("removed", None, None),  # a type no longer registered: what it said is unknown
        ("removed", "2h", timedelta(hours=2)),
    ],
)
def test_the_nearest_setting_wins_and_0s_keeps(
    job_type: str, job_ttl: str | None, kept: timedelta | None
) -> None:
    spec = BackgroundJobSpec.model_validate({"type": job_type, "ttlAfterFinished": job_ttl})
    assert retention(spec, REGISTRY) == kept


def test_a_schedules_child_is_kept_by_its_history_limits_unless_its_template_says() -> None:
    spec = BackgroundJobSpec.model_validate({"type": "report"})
    assert retention(spec, REGISTRY, from_schedule=True) is None
    spec = BackgroundJobSpec.model_validate({"type": "report", "ttlAfterFinished": "3h"})
    assert retention(spec, REGISTRY, from_schedule=True) == timedelta(hours=3)


def test_the_default_keeps_finished_jobs_a_week() -> None:
    spec = BackgroundJobSpec.model_validate({"type": "email"})
    registry = Registry.model_validate({"handlers": {"email": {"image": "e"}}})
    assert retention(spec, registry) == timedelta(days=7)
