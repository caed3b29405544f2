"""Which admission requests the webhook judges: what defines work, nothing else."""

from typing import Any

import pytest

from bgjobs.logic.admission import needs_judging

JOB = {"type": "email", "payload": {"to": "a@example.org"}}


@pytest.mark.parametrize(
    ("plural", "operation", "old", "new", "judged"),
    [
        ("backgroundjobs", "CREATE", None, JOB, True),
        # Labels, annotations, finalizers, status: the spec is unchanged.
        ("backgroundjobs", "UPDATE", JOB, JOB, False),
        # Controlling an existing job: cancel it, or keep it longer.
        ("backgroundjobs", "UPDATE", JOB, {**JOB, "cancel": True}, False),
        ("backgroundjobs", "UPDATE", JOB, {**JOB, "ttlAfterFinished": "1h"}, False),
        # Un-cancelling resumes work: judged.
        ("backgroundjobs", "UPDATE", {**JOB, "cancel": True}, {**JOB, "cancel": False}, True),
        # Changing the work itself is judged again.
        ("backgroundjobs", "UPDATE", JOB, {**JOB, "type": "emial"}, True),
        ("backgroundjobs", "UPDATE", JOB, {**JOB, "payload": {"to": "b@example.org"}}, True),
        ("backgroundjobs", "DELETE", JOB, None, False),
        ("jobschedules", "UPDATE", {"schedule": "@daily"}, {"schedule": "@daily", "suspend": True},
         False),
        ("jobschedules", "UPDATE", {"schedule": "@daily"}, {"schedule": "@hourly"}, True),
        # Resuming a schedule starts new work: judged.
        ("jobschedules", "UPDATE", {"schedule": "@daily", "suspend": True},
         {"schedule": "@daily", "suspend": False}, True),
    ],
)  # fmt: skip
def test_only_what_defines_work_is_judged(
    plural: str, operation: str, old: dict[str, Any] | None, new: dict[str, Any] | None,
    judged: bool,
) -> None:  # fmt: skip
    assert needs_judging(plural, operation, old, new) is judged
