"""What a job costs the API server: the writes of its common path, and finding it
by its phase, type and priority without a label written per transition."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from bgjobs import API_GROUP, API_VERSION
from tests.support.api_proxy import ApiProxy
from tests.support.bgjobs import Jobs, Schedules, bgjob, jobschedule, registry, status
from tests.support.cluster import Cluster
from tests.support.operator import SERVING_LINE, OperatorProcess
from tests.support.poll import eventually

Run = Callable[..., OperatorProcess]
pytestmark = pytest.mark.usefixtures("fake_pods")

JOBS = 10


def _target(request: str) -> tuple[str, str]:
    """(method, what): "bgjob <name>", "events", "job <name>" or the path."""
    method, url = request.split(" ", 1)
    parts = urlsplit(url).path.strip("/").split("/")
    for kind in ("backgroundjobs", "jobs"):
        if kind in parts and parts.index(kind) + 1 < len(parts):
            return method, f"{kind} {parts[parts.index(kind) + 1]}"
    return method, parts[-1]


async def test_the_common_path_costs_three_writes_and_the_job(
    run_operator: Run, jobs: Jobs, cluster: Cluster, tmp_path: Path
) -> None:
    names = [f"w{i}" for i in range(JOBS)]
    async with ApiProxy(cluster.kubeconfig) as proxy:
        op = run_operator(
            kubeconfig=proxy.kubeconfig(tmp_path / "via-proxy"), ready=(SERVING_LINE,)
        )
        for name in names:
            await jobs.create(bgjob(name, fake={"run-for": "100ms"}))
        for name in names:
            await jobs.wait(name, "Completed")
        await asyncio.to_thread(op.stop)  # while the proxy still answers

    writes = Counter(_target(r) for r in proxy.requests if not r.startswith("GET "))
    refused = [(code, r) for r, code in proxy.answers if code >= 400 and not r.startswith("GET ")]
    print("writes of the operator:", dict(sorted(writes.items())))
    per_job = [
        sum(n for (_, what), n in writes.items() if what == f"backgroundjobs {name}")
        for name in names
    ]
    events = sum(n for (_, what), n in writes.items() if what == "events")
    creates = sum(n for (m, what), n in writes.items() if m == "POST" and what == "jobs")
    print(f"per BackgroundJob: {per_job}; Events: {events}; Jobs created: {creates}")
    # Each was written (queued or straight to Running, then Completed), and
    # no more than three times: the writes were seen, and they are few.
    assert all(2 <= n <= 3 for n in per_job), per_job
    assert events == 0  # no Warning on this path, and transition Events are off
    assert creates == JOBS
    # Nothing was written twice for want of the newest version (409 Conflict,
    # or a Job created again after one).
    assert refused == [], refused


async def test_jobs_are_found_by_phase_type_and_priority_with_field_selectors(
    run_operator: Run, jobs: Jobs, api: ApiClient
) -> None:
    run_operator(registry({"work": {}, "report": {"priority": "High"}}))
    await jobs.create(bgjob("done", fake={"run-for": "10ms"}))
    await jobs.create(bgjob("broken", fake={"exit-code": "3"}))
    await jobs.create(bgjob("later", "report", delay="1h"))
    await jobs.create(bgjob("mistyped", "reprot"))
    await jobs.wait("done", "Completed")
    await jobs.wait("broken", "Failed")

    custom = client.CustomObjectsApi(api)

    async def names(selector: str) -> list[str]:
        got = await custom.list_namespaced_custom_object(
            API_GROUP, API_VERSION, jobs.namespace, "backgroundjobs", field_selector=selector
        )
        return sorted(o["metadata"]["name"] for o in got["items"])

    async def judged() -> bool:
        reasons = [status(await jobs.get(n) or {}).get("reason") for n in ("later", "mistyped")]
        return all(reasons)

    await eventually(judged, within=30, what="every job judged")
    assert await names("status.phase=Completed") == ["done"]
    assert await names("status.phase=Failed") == ["broken"]
    assert await names("spec.type=report,status.priority=High") == ["later"]
    assert await names("status.reason=UnknownType") == ["mistyped"]
    assert await names("status.phase=Pending") == ["later", "mistyped"]
    # The operator writes none of the labels bgjobs 0.1 wrote per transition.
    for name in ("done", "broken", "later", "mistyped"):
        labels = (await jobs.get(name) or {})["metadata"].get("labels") or {}
        assert not [k for k in labels if k.startswith(f"{API_GROUP}/")], (name, labels)


async def test_labels_of_an_older_version_are_removed_from_a_live_job(
    run_operator: Run, jobs: Jobs
) -> None:
    legacy = {f"{API_GROUP}/phase": "pending", f"{API_GROUP}/type": "work", "team": "growth"}
    job = bgjob("old", delay="1h")
    job["metadata"]["labels"] = legacy
    await jobs.create(job)
    run_operator()

    async def relabelled() -> dict[str, str] | None:
        obj = await jobs.get("old") or {}
        labels: dict[str, str] = obj["metadata"].get("labels") or {}
        return labels if f"{API_GROUP}/phase" not in labels else None

    labels = await eventually(relabelled, within=30, what="the stale labels removed")
    assert labels == {"team": "growth"}  # the user's own label stays


async def test_finished_jobs_are_held_as_summaries(run_operator: Run, jobs: Jobs) -> None:
    op = run_operator()
    names = [f"f{i}" for i in range(JOBS)]
    await jobs.create(bgjob("waiting", delay="1h", payload={"blob": "x" * 4096}))
    for name in names:
        await jobs.create(bgjob(name, fake={"run-for": "10ms"}))
    for name in names:
        await jobs.wait(name, "Completed")

    def cached(cache: str, form: str) -> float:
        return op.metric("bgjobs_cached_objects", {"cache": cache, "form": form})

    async def settled() -> bool:
        return cached("backgroundjobs", "summary") == JOBS

    await eventually(settled, within=30, what=f"{JOBS} finished jobs summarised")
    # The live job is kept whole; every attempt's outcome is recorded, so no
    # attempt Job is held either.
    assert cached("backgroundjobs", "whole") == 1
    assert cached("attempt_jobs", "summary") == 0


async def test_phase_labels_follow_every_transition_when_asked_for(
    run_operator: Run, jobs: Jobs, api: ApiClient
) -> None:
    run_operator(registry({"work": {"priority": "High"}}), extra_args=["--phase-labels"])
    await jobs.create(bgjob("labelled", fake={"run-for": "10ms"}))
    await jobs.wait("labelled", "Completed")

    custom = client.CustomObjectsApi(api)

    async def labelled() -> list[str]:
        got = await custom.list_namespaced_custom_object(
            API_GROUP, API_VERSION, jobs.namespace, "backgroundjobs",
            label_selector="bgjobs.io/phase=completed,bgjobs.io/priority=high,bgjobs.io/type=work",
        )  # fmt: skip
        return [o["metadata"]["name"] for o in got["items"]]

    assert await eventually(labelled, within=10, what="the labels") == ["labelled"]


async def test_a_schedule_finds_its_jobs_in_the_cache_not_by_a_list_per_event(
    run_operator: Run, jobs: Jobs, schedules: Schedules, cluster: Cluster, tmp_path: Path
) -> None:
    async with ApiProxy(cluster.kubeconfig) as proxy:
        op = run_operator(
            kubeconfig=proxy.kubeconfig(tmp_path / "via-proxy"), ready=(SERVING_LINE,)
        )
        await schedules.create(
            jobschedule("tick", "@every 1s", fake={"run-for": "10ms"}, successfulJobsHistoryLimit=2)
        )

        async def ran() -> bool:
            runs: int = status(await schedules.get("tick")).get("runCount", 0)
            return runs >= 5

        await eventually(ran, within=30, what="five runs")

        async def pruned() -> bool:  # the history limit read from the cache holds
            done = [o for o in await jobs.list() if status(o).get("phase") == "Completed"]
            return len(done) <= 2

        await eventually(pruned, within=10, what="the history pruned to 2")
        await asyncio.to_thread(op.stop)

    lists = [
        r
        for r in proxy.requests
        if r.startswith("GET ") and "/backgroundjobs?" in r and "watch=true" not in r
    ]
    print(f"{len(lists)} lists of BackgroundJobs: {lists}")
    assert lists, "the informer's own list was not seen: the test proves nothing"
    assert not [r for r in lists if "labelSelector" in r]  # none for one schedule's jobs
