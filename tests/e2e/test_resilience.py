"""Pods of the system die mid-run: the leader operator, the Redis server.
Every job still completes, and none runs twice."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.e2e.conftest import RELEASE, SYSTEM, HeldReceiver, Peers, Release
from tests.support.bgjobs import Jobs, bgjob, status
from tests.support.poll import eventually

JOBS = 12
# Attempts held mid-run at the receiver when the pod is deleted.
IN_FLIGHT = 4


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


async def assert_each_ran_once(jobs: Jobs, done: list[dict[str, Any]], seen: HeldReceiver) -> None:
    for job in done:
        st = status(job)
        assert len(st["attempts"]) == 1, (job["metadata"]["name"], st["attempts"])
        assert len(await jobs.batch_jobs(job["metadata"]["name"])) == 1
    assert sorted(seen.keys.values()) == [1] * JOBS, seen.keys
    assert set(seen.keys) == {j["metadata"]["uid"] for j in done}


@asynccontextmanager
async def jobs_mid_run(jobs: Jobs, peers: Peers, prefix: str) -> AsyncIterator[None]:
    """JOBS jobs, IN_FLIGHT of them mid-run while the block breaks something:
    their deliveries are held until it ends. Then every job completes, each
    after exactly one attempt and one delivery."""
    seen = HeldReceiver()
    with peers.receiver(seen) as receiver:
        try:
            await create_jobs(jobs, receiver.url, prefix)
            await seen.holding(IN_FLIGHT)
            yield
        finally:
            seen.release()
        done = await all_completed(jobs, within=180)
    await assert_each_ran_once(jobs, done, seen)


def lease_holder(release: Release) -> str | None:
    """The pod that holds the operator's Lease, if there is one yet."""
    got = release.kubectl("get", "lease", RELEASE, "-n", SYSTEM, "-o", "json", check=False)
    if got.returncode != 0:
        return None
    holder: str | None = json.loads(got.stdout)["spec"].get("holderIdentity")
    return holder


async def test_another_replica_takes_over_when_the_leader_pod_is_deleted(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    release.ensure(replicaCount=2)
    pods = [p["metadata"]["name"] for p in release.operator_pods()]
    assert len(pods) == 2

    async def current_leader() -> str | None:
        return lease_holder(release)

    leader = await eventually(current_leader, within=60, what="a leader")
    assert leader in pods
    async with jobs_mid_run(jobs, peers, "failover"):
        release.kubectl("delete", "pod", "-n", SYSTEM, leader, "--wait=false")

        async def new_leader() -> str | None:
            holder = lease_holder(release)
            return holder if holder not in (None, leader) else None

        # The old leader releases the Lease on its way out; the standby or
        # the deleted pod's replacement (a standby too, once it runs) takes it.
        await eventually(new_leader, within=90, what="another replica to lead")


async def test_redis_pod_deleted_mid_run_loses_nothing_and_runs_nothing_twice(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    redis_pod = f"{RELEASE}-redis-0"
    before = json.loads(release.kubectl("get", "pod", "-n", SYSTEM, redis_pod, "-o", "json").stdout)
    async with jobs_mid_run(jobs, peers, "redisloss"):
        release.kubectl("delete", "pod", "-n", SYSTEM, redis_pod, "--wait=false")

        async def redis_replaced() -> bool:
            pod = release.kubectl("get", "pod", "-n", SYSTEM, redis_pod, "-o", "json",
                                  check=False)  # fmt: skip
            return pod.returncode == 0 and (
                json.loads(pod.stdout)["metadata"]["uid"] != before["metadata"]["uid"]
            )

        await eventually(redis_replaced, within=120, what="a new Redis pod")

    # The new Redis pod came back on the same volume.
    after = json.loads(release.kubectl("get", "pod", "-n", SYSTEM, redis_pod, "-o", "json").stdout)
    volume = next(v for v in after["spec"]["volumes"] if v["name"] == "data")
    assert volume["persistentVolumeClaim"]["claimName"] == f"data-{redis_pod}"
