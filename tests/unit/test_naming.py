"""Deterministic names: every replica and every retry of a reconcile names an
object the same way, names and label values fit Kubernetes' limits, and two
different things never share a name."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bgjobs.logic.naming import (
    MAX_JOB_NAME,
    attempt_job_name,
    queue_member,
    run_now_job_name,
    slot_job_name,
    split_member,
)
from bgjobs.manifests.attempt_job import attempt_label

# A label value (a Job's name becomes the job-name label of its pods): at most
# 63 characters, alphanumeric at both ends, '-', '_' and '.' inside.
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
LONG = "nightly-invoice-export-for-customer-" + "x" * 60  # 96 characters
# Names whose cut (before the hash) lands on a '.' or a '-'.
CUT_AT_A_DOT = "a" * 50 + ".b" * 10
CUT_AT_A_DASH = "a" * 50 + "-b" * 10


@pytest.mark.parametrize(
    ("job", "attempt"),
    [
        pytest.param("welcome", 1, id="short"),
        pytest.param("w" * 60, 1, id="exactly-63-with-suffix"),
        pytest.param("w" * 61, 1, id="one-over"),
        pytest.param(LONG, 1, id="long"),
        pytest.param(LONG, 1000, id="long-many-attempts"),
        pytest.param("b" * 253, 7, id="longest-object-name"),
        pytest.param(CUT_AT_A_DOT, 2, id="cut-at-a-dot"),
        pytest.param(CUT_AT_A_DASH, 2, id="cut-at-a-dash"),
    ],
)
def test_an_attempt_job_name_is_a_valid_label_value_ending_in_its_attempt(
    job: str, attempt: int
) -> None:
    name = attempt_job_name(job, attempt)
    assert len(name) <= MAX_JOB_NAME == 63
    assert LABEL_VALUE.match(name), name
    assert name.endswith(f"-a{attempt}")
    assert not re.search(r"[-.][-.]", name), name  # no job here has two in a row
    assert attempt_job_name(job, attempt) == name  # the same on every replica


@pytest.mark.parametrize(
    ("job", "attempt", "name"),
    [
        pytest.param("welcome", 1, "welcome-a1", id="short-kept-as-is"),
        pytest.param("w" * 60, 3, "w" * 60 + "-a3", id="63-kept-as-is"),
    ],
)
def test_a_name_that_fits_is_readable(job: str, attempt: int, name: str) -> None:
    assert attempt_job_name(job, attempt) == name


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(("welcome", 1), ("welcome", 2), id="attempts-of-one-job"),
        pytest.param((LONG, 1), (LONG, 2), id="attempts-of-a-long-job"),
        pytest.param((LONG + "1", 1), (LONG + "2", 1), id="long-jobs-differing-at-the-end"),
        pytest.param((LONG, 1), (LONG[:-1], 1), id="long-job-and-its-prefix"),
        pytest.param((CUT_AT_A_DOT, 1), (CUT_AT_A_DASH, 1), id="cuts-that-read-alike"),
    ],
)
def test_different_attempts_get_different_jobs(
    first: tuple[str, int], second: tuple[str, int]
) -> None:
    assert attempt_job_name(*first) != attempt_job_name(*second)


@pytest.mark.parametrize(
    "job",
    [
        pytest.param("welcome", id="short"),
        pytest.param("x" * 63, id="exactly-63"),
        pytest.param(LONG, id="long"),
        pytest.param("a" * 62 + ".b", id="cut-at-a-dot"),
        pytest.param("a" * 61 + "--b", id="cut-at-dashes"),
    ],
)
def test_the_job_label_is_a_valid_label_value_shared_by_all_attempts(job: str) -> None:
    label = attempt_label(job)
    assert len(label) <= 63
    assert LABEL_VALUE.match(label), label
    assert job.startswith(label)
    if len(job) <= 63:
        assert label == job


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        pytest.param("default", "welcome", id="plain"),
        pytest.param("team-a", "report.2026.q1", id="dots-in-the-name"),
    ],
)
def test_a_queue_member_names_one_job_and_reads_back(namespace: str, name: str) -> None:
    member = queue_member(namespace, name)
    assert split_member(member) == (namespace, name)
    assert member != queue_member(name, namespace)


SLOT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_a_slot_names_the_same_job_on_every_replica_and_in_every_zone() -> None:
    berlin = SLOT.astimezone(ZoneInfo("Europe/Berlin"))
    assert slot_job_name("report", SLOT) == slot_job_name("report", berlin)
    assert slot_job_name("report", SLOT) == f"report-{int(SLOT.timestamp())}"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(
            slot_job_name("report", SLOT),
            slot_job_name("report", SLOT + timedelta(seconds=1)),
            id="slots-a-second-apart",
        ),
        pytest.param(
            slot_job_name("report", SLOT),
            slot_job_name("export", SLOT),
            id="two-schedules-one-slot",
        ),
        pytest.param(
            run_now_job_name("report", "2026-06-01"),
            run_now_job_name("report", "2026-06-02"),
            id="two-run-now-values",
        ),
        pytest.param(
            run_now_job_name("report", "1"),
            slot_job_name("report", datetime.fromtimestamp(1, UTC)),
            id="run-now-and-slot",
        ),
    ],
)
def test_schedule_runs_never_share_a_job(first: str, second: str) -> None:
    assert first != second


def test_a_run_now_value_names_one_job() -> None:
    assert run_now_job_name("report", "again") == run_now_job_name("report", "again")
    assert run_now_job_name("report", "again").startswith("report-now-")
