"""JobSchedules through the real operator: on time, once per slot, and in control."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.bgjobs import Jobs, Schedules, bgjob, jobschedule, status, wait_events
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually, time_passes

Run = Callable[..., OperatorProcess]


pytestmark = pytest.mark.usefixtures("fake_pods")


async def children(jobs: Jobs, schedule: str) -> list[dict[str, Any]]:
    objs = [o for o in await jobs.list() if o["metadata"]["name"].startswith(f"{schedule}-")]
    return sorted(objs, key=lambda o: o["metadata"]["name"])


async def count_at_least(
    jobs: Jobs, schedule: str, n: int, within: float = 40
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        got = await children(jobs, schedule)
        return got if len(got) >= n else None

    return await eventually(probe, within=within, interval=0.2, what=f"{n} jobs of {schedule}")


def slot_of(obj: dict[str, Any]) -> int:
    return int(obj["metadata"]["name"].rsplit("-", 1)[1])


def lags(op: OperatorProcess) -> list[float]:
    return [float(x) for x in re.findall(r"\(slot, lag ([0-9.]+)s\)", op.log())]


async def test_every_5s_creates_one_job_per_slot_on_time(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    op = run_operator()
    await schedules.create(jobschedule("tick", "@every 5s", fake={"run-for": "100ms"}))

    made = await count_at_least(jobs, "tick", 3)

    slots = [slot_of(o) for o in made[:3]]
    assert all(s % 5 == 0 for s in slots)
    assert [b - a for a, b in itertools.pairwise(slots)] == [5, 5]
    for obj in made[:3]:
        annotation = obj["metadata"]["annotations"]["bgjobs.io/scheduled-time"]
        assert datetime.fromisoformat(annotation).timestamp() == slot_of(obj)
        assert obj["metadata"]["labels"]["team"] == "test"
        assert obj["metadata"]["ownerReferences"][0]["kind"] == "JobSchedule"
    measured = lags(op)
    print("creation lag per slot (s):", measured)
    assert len(measured) >= 3

    # The child is created before the schedule's status is patched: wait for the count.
    async def counted() -> dict[str, Any] | None:
        st = status(await schedules.get("tick"))
        return st if st.get("runCount", 0) >= 3 else None

    st = await eventually(counted, within=10, interval=0.2, what="runCount >= 3")
    assert datetime.fromisoformat(st["nextScheduleTime"]).timestamp() % 5 == 0


async def test_suspend_stops_new_runs(run_operator: Run, jobs: Jobs, schedules: Schedules) -> None:
    run_operator()
    await schedules.create(jobschedule("pausing", "@every 2s"))
    await count_at_least(jobs, "pausing", 1)

    await schedules.patch("pausing", {"spec": {"suspend": True}})

    async def suspended() -> int | None:
        conds = status(await schedules.get("pausing")).get("conditions") or []
        ok = any(c["reason"] == "Suspended" for c in conds)
        return len(await children(jobs, "pausing")) if ok else None

    before = await eventually(suspended, within=20, what="the Suspended condition")
    await time_passes(datetime.now(UTC) + timedelta(seconds=5))
    assert len(await children(jobs, "pausing")) == before


async def test_max_runs_stops_after_the_last(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    run_operator()
    await schedules.create(jobschedule("twice", "@every 2s", maxRuns=2))

    async def done() -> bool:
        conds = status(await schedules.get("twice")).get("conditions") or []
        return any(c["reason"] == "MaxRunsReached" for c in conds)

    await eventually(done, within=30, what="MaxRunsReached")
    await time_passes(datetime.now(UTC) + timedelta(seconds=5))
    assert len(await children(jobs, "twice")) == 2
    assert status(await schedules.get("twice"))["runCount"] == 2


async def test_forbid_skips_a_slot_while_a_job_runs(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    run_operator()
    await schedules.create(
        jobschedule("single", "@every 2s", fake={"hang": "true"}, concurrencyPolicy="Forbid")
    )
    await count_at_least(jobs, "single", 1)

    async def skipped() -> bool:
        return any(e.reason == "SkippedForbid" for e in await jobs.events("single"))

    await eventually(skipped, within=20, what="a SkippedForbid event")
    assert len(await children(jobs, "single")) == 1


async def test_replace_cancels_the_running_job(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    run_operator()
    await schedules.create(
        jobschedule(
            "fresh",
            "@every 3s",
            fake={"hang": "true"},
            concurrencyPolicy="Replace",
            failedJobsHistoryLimit=10,  # keep the cancelled ones to look at
        )
    )
    first = (await count_at_least(jobs, "fresh", 1))[0]["metadata"]["name"]

    await count_at_least(jobs, "fresh", 2)

    cancelled = await jobs.wait(first, "Cancelled")
    assert cancelled["spec"]["cancel"] is True


async def test_history_limits_prune_oldest_first(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    run_operator()
    await schedules.create(
        jobschedule("pruned", "@every 2s", fake={"run-for": "50ms"}, successfulJobsHistoryLimit=1)
    )

    async def pruned() -> list[str] | None:
        runs = status(await schedules.get("pruned")).get("runCount", 0)
        done = [
            o["metadata"]["name"]
            for o in await children(jobs, "pruned")
            if status(o).get("phase") == "Completed"
        ]
        return done if runs >= 4 and len(done) == 1 else None

    (kept,) = await eventually(pruned, within=40, what="history pruned to one job")
    remaining = [slot_of(o) for o in await children(jobs, "pruned")]
    kept_slot = int(kept.rsplit("-", 1)[1])
    assert all(s >= kept_slot for s in remaining), "an older job survived the pruning"


async def test_run_now_creates_one_job_at_once(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    run_operator()
    await schedules.create(jobschedule("manual", "0 0 1 1 *"))

    await schedules.patch("manual", {"metadata": {"annotations": {"bgjobs.io/run-now": "a"}}})
    (job,) = await count_at_least(jobs, "manual", 1, within=20)
    await schedules.patch("manual", {"metadata": {"labels": {"touched": "yes"}}})
    await schedules.patch("manual", {"metadata": {"annotations": {"bgjobs.io/run-now": "b"}}})
    both = await count_at_least(jobs, "manual", 2, within=20)

    assert job["metadata"]["name"].startswith("manual-now-")
    assert len(both) == 2
    assert status(await jobs.wait(job["metadata"]["name"], "Completed"))["phase"] == "Completed"


async def test_restart_runs_only_the_latest_missed_slot_within_the_deadline(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    op = run_operator()
    await schedules.create(jobschedule("catchup", "@every 5s", startingDeadlineSeconds=30))
    await count_at_least(jobs, "catchup", 1)
    op.stop()
    # The last slot run before it stopped (a slow stop may have run more).
    first = await children(jobs, "catchup")
    last = max(slot_of(o) for o in first)

    await time_passes(datetime.fromtimestamp(last + 11.5, UTC))  # two slots missed
    op.start()

    after = await count_at_least(jobs, "catchup", len(first) + 1, within=20)
    new = [slot_of(o) for o in after if slot_of(o) > last]
    # Two slots passed while it was down: the older (last + 5) is skipped and
    # only the newest missed one runs (last + 10, or a later one if the restart
    # itself was slow).
    assert last + 5 not in new, f"the older missed slot ran: {new}"
    assert new[0] >= last + 10
    await wait_events(
        jobs,
        "catchup",
        lambda es: any(e.reason == "MissedSchedule" and "skipped" in e.message for e in es),
    )


async def test_restart_skips_missed_slots_past_the_deadline(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    op = run_operator()
    await schedules.create(jobschedule("late", "@every 10s", startingDeadlineSeconds=2))
    first = await count_at_least(jobs, "late", 1, within=30)
    last = slot_of(first[-1])
    op.stop()

    await time_passes(datetime.fromtimestamp(last + 25, UTC))  # slots +10, +20 missed, 5s ago
    op.start()

    async def too_late() -> bool:
        return any(e.reason == "MissedSchedule" for e in await jobs.events("late"))

    await eventually(too_late, within=20, what="a MissedSchedule event")
    slots = [slot_of(o) for o in await children(jobs, "late")]
    assert last + 10 not in slots
    assert last + 20 not in slots


async def test_two_operators_create_exactly_one_job_per_slot(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    run_operator()
    run_operator()
    await schedules.create(
        jobschedule("shared", "@every 2s", fake={"run-for": "50ms"}, successfulJobsHistoryLimit=50)
    )

    made = await count_at_least(jobs, "shared", 5)

    slots = [slot_of(o) for o in made]
    assert len(slots) == len(set(slots))
    assert all(b - a == 2 for a, b in itertools.pairwise(slots)), slots

    async def counted() -> bool:
        st = status(await schedules.get("shared"))
        return st.get("runCount") == len(await children(jobs, "shared"))

    await eventually(counted, within=10, what="runCount to match the jobs created")


@pytest.mark.parametrize(
    ("expression", "zone", "says"),
    [
        ("61 * * * *", "Mars/Olympus", "spec.timeZone"),
        # Valid syntax, but no February has a 30th: refused, not raised on every reconcile.
        ("0 0 30 2 *", "UTC", "spec.schedule: '0 0 30 2 *' never fires"),
    ],
)
async def test_invalid_schedule_is_reported_and_resumes_once_fixed(
    run_operator: Run, jobs: Jobs, schedules: Schedules, expression: str, zone: str, says: str
) -> None:
    run_operator()
    await schedules.create(jobschedule("broken", expression, timeZone=zone))

    async def ready(reason: str) -> dict[str, Any] | None:
        conds = status(await schedules.get("broken")).get("conditions") or []
        return next((c for c in conds if c["reason"] == reason), None)

    cond = await eventually(lambda: ready("InvalidSchedule"), within=20, what="InvalidSchedule")
    assert cond["status"] == "False"
    assert says in cond["message"], cond
    await wait_events(
        jobs,
        "broken",
        lambda es: any(e.reason == "InvalidSchedule" and e.type == "Warning" for e in es),
    )

    await schedules.patch("broken", {"spec": {"schedule": "@every 2s", "timeZone": "UTC"}})

    await eventually(lambda: ready("Scheduled"), within=20, what="Ready/Scheduled")
    await count_at_least(jobs, "broken", 1)


async def test_run_now_counts_towards_max_runs_and_is_refused_after(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    run_operator()
    # Suspended, so no slot runs: only the manual runs count.
    await schedules.create(jobschedule("twice", "@every 2s", maxRuns=2, suspend=True))
    for n, token in enumerate(("a", "b"), start=1):
        await schedules.patch("twice", {"metadata": {"annotations": {"bgjobs.io/run-now": token}}})
        await count_at_least(jobs, "twice", n, within=20)
    await schedules.patch("twice", {"metadata": {"annotations": {"bgjobs.io/run-now": "c"}}})

    await wait_events(
        jobs,
        "twice",
        lambda es: any(e.reason == "RunNowRefused" and "'c'" in e.message for e in es),
    )
    st = status(await schedules.get("twice"))
    assert (st["runCount"], st["handledRunNow"]) == (2, "c")
    assert len(await children(jobs, "twice")) == 2
    # Unsuspended, it stays done: no slot runs past maxRuns either.
    await schedules.patch("twice", {"spec": {"suspend": False}})

    async def done() -> bool:
        conds = status(await schedules.get("twice")).get("conditions") or []
        return any(c["reason"] == "MaxRunsReached" for c in conds)

    await eventually(done, within=20, what="MaxRunsReached")
    assert len(await children(jobs, "twice")) == 2


async def test_a_schedule_idle_for_three_days_catches_up_without_stalling_others(
    run_operator: Run, jobs: Jobs, schedules: Schedules
) -> None:
    """4,320 missed minutes are not walked one by one: the schedule's job and
    an unrelated job both go ahead at once (a walk took the event loop ~95 s)."""
    run_operator()
    await schedules.create(jobschedule("idle", "* * * * *", suspend=True))
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:00Z")
    await schedules.custom.patch_namespaced_custom_object_status(
        "bgjobs.io", "v1alpha1", jobs.namespace, "jobschedules", "idle",
        {"status": {"lastScheduleTime": three_days_ago}},
        _content_type="application/merge-patch+json",  # type: ignore[call-arg]
    )  # fmt: skip
    await schedules.patch("idle", {"spec": {"suspend": False}})
    await jobs.create(bgjob("unrelated"))

    await count_at_least(jobs, "idle", 1, within=5)
    await jobs.wait("unrelated", "Running", "Completed", within=5)
    await wait_events(
        jobs,
        "idle",
        lambda es: any(e.reason == "MissedSchedule" and "over 10" in e.message for e in es),
    )
