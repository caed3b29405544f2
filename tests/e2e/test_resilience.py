"""Pods of the system die mid-run: the leader operator, the Redis server.
Every job still completes, and none runs twice."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from tests.e2e.conftest import RELEASE, SYSTEM, Peers, Release
from tests.support.bgjobs import Jobs, bgjob, status
from tests.support.http_peer import Seen
from tests.support.poll import eventually

JOBS = 12


class SlowReceiver:
    """Answers 200 after a pause, so that attempts are running when a pod dies;
    counts deliveries per idempotency key (one key per BackgroundJob)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.keys: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, seen: Seen) -> tuple[int, bytes]:
        with self._lock:
            self.keys[seen.headers["X-Bgjobs-Idempotency-Key"]] += 1
        threading.Event().wait(self.seconds)
        return 200, b""


async def create_jobs(jobs: Jobs, url: str, prefix: str) -> None:
    for i in range(JOBS):
        await jobs.create(
            bgjob(f"{prefix}-{i}", "notifications", payload={"url": url, "text": str(i)})
        )


async def all_completed(jobs: Jobs, within: float) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        listed = await jobs.list()
        phases = Counter(status(j).get("phase") for j in listed)
        return listed if phases.get("Completed") == JOBS else None

    return await eventually(probe, within=within, what=f"{JOBS} jobs to complete")


async def assert_each_ran_once(jobs: Jobs, done: list[dict[str, Any]], seen: SlowReceiver) -> None:
    for job in done:
        st = status(job)
        assert len(st["attempts"]) == 1, (job["metadata"]["name"], st["attempts"])
        assert len(await jobs.batch_jobs(job["metadata"]["name"])) == 1
    assert sorted(seen.keys.values()) == [1] * JOBS, seen.keys
    assert set(seen.keys) == {j["metadata"]["uid"] for j in done}


def lease_holder(release: Release) -> str | None:
    """The pod that holds the operator's Lease, if there is one yet."""
    got = release.kubectl("get", "lease", RELEASE, "-n", SYSTEM, "-o", "json", check=False)
    if got.returncode != 0:
        return None
    holder: str | None = json.loads(got.stdout)["spec"].get("holderIdentity")
    return holder


async def test_the_standby_takes_over_when_the_leader_pod_is_deleted(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    release.ensure(replicaCount=2)
    pods = [p["metadata"]["name"] for p in release.operator_pods()]
    assert len(pods) == 2

    async def current_leader() -> str | None:
        return lease_holder(release)

    leader = await eventually(current_leader, within=60, what="a leader")
    assert leader in pods
    seen = SlowReceiver(seconds=2)
    with peers.receiver(seen) as receiver:
        await create_jobs(jobs, receiver.url, "failover")

        async def some_running() -> bool:
            return any(status(j).get("phase") == "Running" for j in await jobs.list())

        await eventually(some_running, within=60, what="attempts running")
        release.kubectl("delete", "pod", "-n", SYSTEM, leader, "--wait=false")

        async def new_leader() -> str | None:
            holder = lease_holder(release)
            return holder if holder not in (None, leader) else None

        successor = await eventually(new_leader, within=90, what="another replica to lead")
        done = await all_completed(jobs, within=180)

    assert successor in pods, "the standby, not the replacement of the deleted pod, took over"
    await assert_each_ran_once(jobs, done, seen)


async def test_redis_pod_deleted_mid_run_loses_nothing_and_runs_nothing_twice(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    redis_pod = f"{RELEASE}-redis-0"
    before = json.loads(release.kubectl("get", "pod", "-n", SYSTEM, redis_pod, "-o", "json").stdout)
    seen = SlowReceiver(seconds=2)
    with peers.receiver(seen) as receiver:
        await create_jobs(jobs, receiver.url, "redisloss")

        async def some_running() -> bool:
            return any(status(j).get("phase") == "Running" for j in await jobs.list())

        await eventually(some_running, within=60, what="attempts running")
        release.kubectl("delete", "pod", "-n", SYSTEM, redis_pod, "--wait=false")
        done = await all_completed(jobs, within=180)

    after = json.loads(release.kubectl("get", "pod", "-n", SYSTEM, redis_pod, "-o", "json").stdout)
    assert after["metadata"]["uid"] != before["metadata"]["uid"], "Redis was not restarted"
    volume = next(v for v in after["spec"]["volumes"] if v["name"] == "data")
    assert volume["persistentVolumeClaim"]["claimName"] == f"data-{redis_pod}"
    await assert_each_ran_once(jobs, done, seen)
