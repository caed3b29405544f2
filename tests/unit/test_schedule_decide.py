"""A JobSchedule's whole reconcile decision (logic/schedule.decide), table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bgjobs.logic.naming import run_now_job_name, slot_job_name
from bgjobs.logic.schedule import Child, Decision, Run, decide
from bgjobs.vocabulary import RUN_NOW_ANNOTATION

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
SLOT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # the newest every-minute slot at NOW
EARLIER = SLOT - timedelta(minutes=1)
TEMPLATE = {"jobTemplate": {"spec": {"type": "work", "payload": {}}}}


def schedule(
    *, status: dict[str, Any] | None = None, run_now: str | None = None, **spec: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "nightly",
        "namespace": "app",
        "uid": "u-1",
        "generation": 2,
        "creationTimestamp": "2026-01-01T00:00:00Z",
    }
    if run_now:
        meta["annotations"] = {RUN_NOW_ANNOTATION: run_now}
    return {
        "metadata": meta,
        "spec": {"schedule": "* * * * *", **TEMPLATE, **spec},
        "status": {"lastScheduleTime": EARLIER.isoformat(), **(status or {})},
    }


def child(name: str, phase: str = "", done_minutes_ago: int | None = None) -> Child:
    done = NOW - timedelta(minutes=done_minutes_ago) if done_minutes_ago is not None else None
    return Child(name=name, phase=phase, completed_at=done, created_at=NOW - timedelta(hours=1))


def reasons(d: Decision) -> list[str]:
    return [s.reason for s in d.say]


def ready(d: Decision) -> tuple[str, str]:
    (cond,) = d.status.conditions
    return cond.status, cond.reason


@pytest.mark.parametrize(
    ("body", "children", "runs", "cancel", "said", "want_ready", "run_count"),
    [
        pytest.param(schedule(), [], [slot_job_name("nightly", SLOT)], [], [],
                     ("True", "Scheduled"), 1, id="a due slot runs"),
        pytest.param(schedule(status={"lastScheduleTime": SLOT.isoformat()}), [], [], [], [],
                     ("True", "Scheduled"), 0, id="nothing due"),
        pytest.param(schedule(suspend=True), [], [], [], [],
                     ("True", "Suspended"), 0, id="suspended: no slot"),
        pytest.param(schedule(suspend=True, run_now="t1"), [],
                     [run_now_job_name("nightly", "t1")], [], [],
                     ("True", "Suspended"), 1, id="run-now also while suspended"),
        pytest.param(schedule(run_now="t1", status={"handledRunNow": "t1",
                                                    "lastScheduleTime": SLOT.isoformat()}),
                     [], [], [], [], ("True", "Scheduled"), 0, id="run-now handled once"),
        pytest.param(schedule(maxRuns=1, run_now="t2", status={"runCount": 1}), [], [], [],
                     ["RunNowRefused"], ("True", "MaxRunsReached"), 1,
                     id="run-now refused past maxRuns"),
        pytest.param(schedule(maxRuns=1, run_now="t3"), [],
                     [run_now_job_name("nightly", "t3")], [], [],
                     ("True", "MaxRunsReached"), 1, id="run-now takes the last run, not the slot"),
        pytest.param(schedule(concurrencyPolicy="Forbid"), [child("nightly-1", "Running")],
                     [], [], ["SkippedForbid"], ("True", "Scheduled"), 0,
                     id="Forbid skips while one runs"),
        pytest.param(schedule(concurrencyPolicy="Replace"), [child("nightly-1", "Running")],
                     [slot_job_name("nightly", SLOT)], ["nightly-1"], ["Replaced"],
                     ("True", "Scheduled"), 1, id="Replace cancels first"),
        pytest.param(schedule(concurrencyPolicy="Forbid"), [child("nightly-1", "Completed", 5)],
                     [slot_job_name("nightly", SLOT)], [], [], ("True", "Scheduled"), 1,
                     id="a finished job does not block Forbid"),
        pytest.param(schedule(status={"lastScheduleTime": (SLOT - timedelta(minutes=5))
                                      .isoformat()}),
                     [], [slot_job_name("nightly", SLOT)], [], ["MissedSchedule"],
                     ("True", "Scheduled"), 1, id="missed slots: only the newest runs"),
        pytest.param(schedule(startingDeadlineSeconds=10), [], [], [], ["MissedSchedule"],
                     ("True", "Scheduled"), 0, id="past the starting deadline"),
        pytest.param(schedule(schedule="61 * * * *"), [], [], [], [],
                     ("False", "InvalidSchedule"), 0, id="an invalid schedule"),
        pytest.param(schedule(maxRuns=-1), [], [], [], [],
                     ("False", "InvalidSchedule"), 0, id="an invalid spec"),
    ],
)  # fmt: skip
def test_decide(
    body: dict[str, Any],
    children: list[Child],
    runs: list[str],
    cancel: list[str],
    said: list[str],
    want_ready: tuple[str, str],
    run_count: int,
) -> None:
    d = decide(body, children, NOW)
    assert [r.name for r in d.runs] == runs
    assert d.cancel == cancel
    assert reasons(d) == said
    assert ready(d) == want_ready
    assert d.status.run_count == run_count
    assert d.status.observed_generation == 2
    if want_ready[0] == "False":
        assert d.spec is None
        assert d.wake_at is None
        assert d.status.next_schedule_time is None
    else:
        assert d.wake_at == d.status.next_schedule_time


def test_an_invalid_spec_is_named_in_the_message() -> None:
    (cond,) = decide(schedule(maxRuns=-1), [], NOW).status.conditions
    assert "spec.maxRuns" in cond.message


def test_a_run_whose_job_existed_already_is_active_only_if_it_was_read_so() -> None:
    slot = slot_job_name("nightly", SLOT)
    d = decide(schedule(), [], NOW)
    assert [a.name for a in d.status.active] == [slot]
    assert [a.name for a in d.status_after(created={slot}).active] == [slot]
    # 409: an earlier reconcile made it, and it was not among the unfinished jobs read.
    assert d.status_after(created=set()).active == []
    d = decide(schedule(), [child(slot, "Running")], NOW)
    assert [a.name for a in d.status_after(created=set()).active] == [slot]


def test_history_is_pruned_oldest_first_per_limit() -> None:
    children = [
        child("ok-old", "Completed", 30),
        child("ok-mid", "Completed", 20),
        child("ok-new", "Completed", 10),
        child("failed-old", "Failed", 25),
        child("cancelled-new", "Cancelled", 5),
        child("running", "Running"),
    ]
    d = decide(schedule(successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1), children, NOW)
    assert d.prune == ["ok-old", "ok-mid", "failed-old"]
    assert d.status.last_successful_time == NOW - timedelta(minutes=10)
    assert [a.name for a in d.status.active] == sorted(["running", slot_job_name("nightly", SLOT)])


def test_ready_moves_its_transition_time_only_when_it_flips() -> None:
    before = NOW - timedelta(days=1)
    cond = {"type": "Ready", "status": "True", "reason": "Scheduled", "message": "",
            "lastTransitionTime": before.isoformat()}  # fmt: skip
    suspended = decide(schedule(suspend=True, status={"conditions": [cond]}), [], NOW)
    assert suspended.status.conditions[0].last_transition_time == before
    broken = decide(schedule(schedule="nope", status={"conditions": [cond]}), [], NOW)
    assert broken.status.conditions[0].last_transition_time == NOW


def test_child_of_reads_what_the_schedule_needs() -> None:
    body = {
        "metadata": {"name": "j", "creationTimestamp": "2026-06-01T11:00:00Z"},
        "status": {"phase": "Completed", "completedAt": "2026-06-01T11:05:00Z"},
    }
    c = Child.of(body)
    assert (c.name, c.phase, c.active) == ("j", "Completed", False)
    assert c.completed_at == datetime(2026, 6, 1, 11, 5, tzinfo=UTC)
    assert Child.of({"metadata": {"name": "new"}}).active


def test_an_unreadable_status_starts_afresh_and_the_last_success_is_kept() -> None:
    corrupt = schedule(status={"runCount": "many"})
    assert decide(corrupt, [], NOW).status.run_count == 1  # the due slot, counted from 0
    earlier = NOW - timedelta(days=3)
    kept = schedule(status={"lastSuccessfulTime": earlier.isoformat()})
    assert decide(kept, [], NOW).status.last_successful_time == earlier


def now_run(token: str) -> Run:
    return Run(run_now_job_name("nightly", token), NOW, "run-now")


SLOT_RUN = Run(slot_job_name("nightly", SLOT), SLOT, "slot")


@pytest.mark.parametrize(
    ("body", "made", "runs", "run_count", "said"),
    [
        pytest.param(schedule(maxRuns=2, suspend=True, run_now="b"), {now_run("a")},
                     [now_run("b").name], 2, [],
                     id="a run made before a conflict counts, and the new one too"),
        pytest.param(schedule(maxRuns=2, suspend=True, run_now="a"), {now_run("a")},
                     [now_run("a").name], 1, [], id="the same run decided again counts once"),
        pytest.param(schedule(maxRuns=2, suspend=True, run_now="c", status={"runCount": 1}),
                     {now_run("b")}, [], 2, ["RunNowRefused"], id="made runs use up maxRuns"),
        pytest.param(schedule(), {SLOT_RUN}, [SLOT_RUN.name], 1, [], id="a slot made already"),
        pytest.param(schedule(status={"lastScheduleTime": SLOT.isoformat(), "runCount": 1}),
                     {SLOT_RUN}, [], 1, [], id="a slot another writer counted already"),
        pytest.param(schedule(run_now="a", status={"handledRunNow": "a", "runCount": 1,
                                                   "lastScheduleTime": SLOT.isoformat()}),
                     {now_run("a")}, [], 1, [], id="a run-now another writer counted already"),
    ],
)  # fmt: skip
def test_runs_made_before_a_conflict_are_counted_once(
    body: dict[str, Any], made: set[Run], runs: list[str], run_count: int, said: list[str]
) -> None:
    d = decide(body, [], NOW, made=frozenset(made))
    assert [r.name for r in d.runs] == runs
    assert d.status.run_count == run_count
    assert reasons(d) == said
    names = {r.name for r in made}
    assert names <= {a.name for a in d.status_after(names).active}


@pytest.mark.parametrize("policy", ["Forbid", "Replace"])
def test_the_slots_own_job_is_not_another_run_in_the_way(policy: str) -> None:
    # An earlier reconcile made the slot's job, and its status write was lost.
    own = child(SLOT_RUN.name, "Running")
    d = decide(schedule(concurrencyPolicy=policy), [own, child("other", "Running")], NOW)
    assert d.cancel == (["other"] if policy == "Replace" else [])
    assert [r.name for r in d.runs] == ([] if policy == "Forbid" else [SLOT_RUN.name])
    alone = decide(schedule(concurrencyPolicy=policy), [own], NOW)
    assert alone.cancel == []
    assert [r.name for r in alone.runs] == [SLOT_RUN.name]  # its create answers 409
    assert reasons(alone) == []
