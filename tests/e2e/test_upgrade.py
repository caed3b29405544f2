"""`helm upgrade` changing the registry: the new settings take effect, running jobs go on."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.e2e.conftest import HeldReceiver, Peers, Release
from tests.support.bgjobs import Jobs, bgjob, status
from tests.support.images import handler_image
from tests.support.poll import eventually


async def test_an_upgrade_adding_a_type_keeps_the_running_jobs(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    seen = HeldReceiver()
    with peers.receiver(seen) as receiver:
        try:
            for i in range(4):
                payload = {"url": receiver.url, "text": f"before {i}"}
                await jobs.create(bgjob(f"before-{i}", "notifications", payload=payload))
            await seen.holding(4)  # all four mid-run through the upgrade
            old_pods = {p["metadata"]["name"] for p in release.operator_pods()}
            # A new type in the registry; the Deployment rolls (its checksum changed).
            added = {
                "image": handler_image("notifications"),
                "env": [{"name": "NOTIFY_SECRET", "value": "other"}],
            }
            release.ensure(handlers={"greeting": added})
            assert {p["metadata"]["name"] for p in release.operator_pods()}.isdisjoint(old_pods)
            phases = Counter(status(j).get("phase") for j in await jobs.list())
            assert phases == {"Running": 4}, phases
        finally:
            seen.release()
        payload = {"url": receiver.url, "text": "hi"}
        await jobs.create(bgjob("after", "greeting", payload=payload))

        async def five_completed() -> list[dict[str, Any]] | None:
            listed = await jobs.list()
            done = [j for j in listed if status(j).get("phase") == "Completed"]
            return listed if len(done) == 5 else None

        listed = await eventually(five_completed, within=180, what="all five jobs to complete")

    for job in listed:
        assert len(status(job)["attempts"]) == 1, job["metadata"]["name"]
    assert sorted(seen.keys.values()) == [1] * 5
