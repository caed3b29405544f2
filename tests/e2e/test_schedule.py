"""A JobSchedule produces real pods, one job per slot."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from kubernetes_asyncio import client

from tests.e2e.conftest import Peers, Release
from tests.support.bgjobs import Jobs, Schedules, status
from tests.support.poll import eventually


async def test_a_schedule_every_10s_produces_real_pods_once_per_slot(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    schedules = Schedules(jobs.api, jobs.namespace)
    with peers.receiver(lambda seen: (200, b"")) as receiver:
        await schedules.create(
            {
                "apiVersion": "bgjobs.io/v1alpha1",
                "kind": "JobSchedule",
                "metadata": {"name": "tick"},
                "spec": {
                    "schedule": "@every 10s",
                    "jobTemplate": {
                        "spec": {
                            "type": "notifications",
                            "payload": {"url": receiver.url, "text": "tick"},
                        }
                    },
                    "successfulJobsHistoryLimit": 10,
                },
            }
        )

        async def three_completed() -> list[dict[str, Any]] | None:
            done = [j for j in await jobs.list() if status(j).get("phase") == "Completed"]
            return done if len(done) >= 3 else None

        done = await eventually(three_completed, within=90, what="three scheduled runs")
        await schedules.patch("tick", {"spec": {"suspend": True}})

    slots = sorted(done, key=lambda j: j["metadata"]["annotations"]["bgjobs.io/scheduled-time"])
    times = [
        datetime.fromisoformat(j["metadata"]["annotations"]["bgjobs.io/scheduled-time"])
        for j in slots
    ]
    # Consecutive slots, none skipped or doubled (how late each came is a
    # figure for bench/schedule_lag.py, not a test).
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)][:2] == [10, 10]
    for job, slot in zip(slots, times, strict=True):
        assert datetime.fromisoformat(job["metadata"]["creationTimestamp"]) >= slot, (
            "created before its slot"
        )
        (attempt,) = status(job)["attempts"]
        pod = await client.CoreV1Api(jobs.api).read_namespaced_pod(
            attempt["podName"], jobs.namespace
        )
        assert pod.status.phase == "Succeeded"
    assert len(receiver.requests) >= 3
