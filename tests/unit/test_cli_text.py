"""What the plugin's verbs print, from the plain functions that build it (no cluster)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bgjobs.cli import jobs, schedules
from bgjobs.cli.output import StatusLine, priority_level
from bgjobs.cli.session import UsageError
from bgjobs.client import Job

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
TOKYO = ZoneInfo("Asia/Tokyo")


def job(name: str = "mail-1", **status: Any) -> Job:
    return Job(
        {
            "metadata": {
                "name": name,
                "namespace": "app",
                "creationTimestamp": "2026-11-28T11:00:00+00:00",
            },
            "spec": {"type": "email", "priority": "High", "payload": {"to": "a@b.c"}},
            "status": status,
        }
    )


@pytest.mark.parametrize(
    ("name", "level"),
    [("Urgent", 3), ("high", 2), ("NORMAL", 1), ("low", 0), ("", 1), ("Meh", 1)],
)
def test_priority_level_in_any_case(name: str, level: int) -> None:
    assert priority_level(name) == level


def test_status_line_writes_a_line_per_change_when_not_a_terminal() -> None:
    out = io.StringIO()
    line = StatusLine(out)
    for state in (
        {"phase": "Pending", "reason": "Queued"},
        {"phase": "Pending", "reason": "Queued"},
        {"phase": "Retrying", "reason": "Retrying", "retryCount": 1},
        {"phase": "Completed", "reason": "Succeeded", "retryCount": 1},
    ):
        line.show(job(**state))
    line.end()
    assert out.getvalue().splitlines() == [
        "mail-1: Pending (Queued)",
        "mail-1: Retrying (Retrying), retry 1",
        "mail-1: Completed (Succeeded), retry 1",
    ]


def test_job_rows_wide_and_all_namespaces() -> None:
    text = jobs.job_rows(
        [job(phase="Failed", reason="PermanentFailure", jobName="mail-1-a1", message="exit 3")],
        wide=True,
        all_namespaces=True,
    )
    header, row = text.splitlines()
    columns = "NAMESPACE NAME TYPE PRIORITY PHASE RETRIES AGE REASON JOB MESSAGE"
    assert " ".join(header.split()) == columns
    assert row.split()[:5] == ["app", "mail-1", "email", "High", "Failed"]
    assert row.split()[-4:] == ["PermanentFailure", "mail-1-a1", "exit", "3"]


def test_describe_a_job_with_attempts_result_and_events() -> None:
    shown = job(
        phase="Completed",
        reason="Succeeded",
        retryCount=1,
        startedAt="2026-11-28T11:01:00Z",
        attempts=[
            {"attempt": 1, "jobName": "mail-1-a1", "exitCode": 1, "reason": "Error"},
            {"attempt": 2, "jobName": "mail-1-a2", "exitCode": 0, "reason": "Completed"},
        ],
        result={"status": "sent"},
    )
    events = [{"type": "Normal", "reason": f"R{i}", "message": f"m{i}"} for i in range(12)]
    text = jobs.describe(shown, events)
    assert "Phase:       Completed (Succeeded)" in text
    assert "Started:     2026-11-28T11:01:00Z" in text
    assert "  type: email" in text  # the spec, as YAML
    assert "mail-1-a2" in text
    assert '  "status": "sent"' in text
    assert "R1 " not in text  # the last ten events: R2 to R11
    assert "R2 " in text
    assert "Error:" not in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "--payload: not valid JSON"),
        ("[1, 2]", "--payload: must be a JSON object"),
        ("@/nonexistent/payload.json", "--payload @/nonexistent/payload.json: cannot read"),
    ],
)
def test_bad_payloads_name_the_flag(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        jobs.read_payload(text)


def test_payload_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"to": "a@b.c"}))
    assert jobs.read_payload(f"@{path}") == {"to": "a@b.c"}
    assert jobs.read_payload("{}") == {}


def schedule(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "nightly", "namespace": "app"},
        "spec": {"jobTemplate": {"spec": {"type": "work"}}, **spec},
        "status": {"runCount": 4, "lastScheduleTime": "2026-11-28T01:30:00+00:00"},
    }


def test_describe_a_schedule_in_its_zone_and_the_local_one() -> None:
    doc = schedules.describe(
        schedule(schedule="30 2 * * *", timeZone="Europe/Berlin"), NOW, TOKYO, 2
    )
    assert doc["nextRuns"] == ["2026-11-29 02:30:00 CET", "2026-11-30 02:30:00 CET"]
    assert doc["nextRunsLocal"] == ["2026-11-29 10:30:00 JST", "2026-11-30 10:30:00 JST"]
    assert (doc["runCount"], doc["problem"]) == (4, "")
    row = schedules.row(doc, all_namespaces=True)
    assert row[:5] == ["app", "nightly", "30 2 * * *", "Europe/Berlin", "false"]
    assert row[-1] == 4


@pytest.mark.parametrize(
    ("spec", "next_column"),
    [
        ({"schedule": "@every 15s", "suspend": True}, "suspended"),
        ({"schedule": "61 * * * *"}, "not a valid cron expression"),
        ({"schedule": "@hourly"}, "2026-11-28 13:00:00 UTC"),
    ],
)
def test_a_schedule_row_says_why_it_has_no_next_run(spec: dict[str, Any], next_column: str) -> None:
    doc = schedules.describe(schedule(**spec), NOW, UTC, 0)
    row = schedules.row(doc, all_namespaces=False)
    assert next_column in row[5]
    assert len(doc["nextRuns"]) == (1 if next_column.startswith("2026") else 0)
