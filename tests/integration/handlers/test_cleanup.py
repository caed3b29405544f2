"""The cleanup handler against the local cluster's API server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.bgjobs import Jobs, bgjob
from tests.support.cluster import Cluster
from tests.support.handlers import attempt, load_handler

cleanup = load_handler("cleanup").cleanup
NOW = datetime.now(UTC)


async def finished(jobs: Jobs, name: str, phase: str, age: timedelta) -> None:
    await jobs.create(bgjob(name))
    done = (NOW - age).isoformat().replace("+00:00", "Z")
    await jobs.custom.patch_namespaced_custom_object_status(
        "bgjobs.io",
        "v1alpha1",
        jobs.namespace,
        "backgroundjobs",
        name,
        {"status": {"phase": phase, "completedAt": done}},
        _content_type="application/merge-patch+json",  # type: ignore[call-arg]
    )


@pytest.fixture
async def seeded(jobs: Jobs, crds: object) -> Jobs:
    await finished(jobs, "old-done", "Completed", timedelta(days=10))
    await finished(jobs, "old-failed", "Failed", timedelta(days=8))
    await finished(jobs, "old-cancelled", "Cancelled", timedelta(days=30))
    await finished(jobs, "new-done", "Completed", timedelta(hours=2))
    await jobs.create(bgjob("still-queued"))
    return jobs


async def names(jobs: Jobs) -> set[str]:
    return {o["metadata"]["name"] for o in await jobs.list()}


async def test_dry_run_counts_and_deletes_nothing(
    seeded: Jobs, cluster: Cluster, tmp_path: Path
) -> None:
    env = {"KUBECONFIG": str(cluster.kubeconfig)}
    ns_env = {**env, "BGJOB_NAMESPACE": seeded.namespace}
    code, out = await asyncio.to_thread(attempt, cleanup, {"dryRun": True}, tmp_path, env=ns_env)

    assert code == 0, out
    result = json.loads(out)
    assert result["deleted"] == {"Completed": 1, "Failed": 1, "Cancelled": 1}
    assert result["dryRun"] is True
    assert len(await names(seeded)) == 5


async def test_deletes_only_old_finished_jobs(
    seeded: Jobs, cluster: Cluster, tmp_path: Path
) -> None:
    env = {"KUBECONFIG": str(cluster.kubeconfig)}
    payload = {
        "olderThan": "9d",
        "namespaces": [seeded.namespace],
        "phases": ["Completed", "Cancelled"],
    }
    # The handler runs its own event loop, as in its pod: give it a thread.
    code, out = await asyncio.to_thread(attempt, cleanup, payload, tmp_path, env=env)

    assert code == 0, out
    assert json.loads(out)["deleted"] == {"Completed": 1, "Cancelled": 1}
    assert await names(seeded) == {"old-failed", "new-done", "still-queued"}


def test_bad_age_is_permanent(tmp_path: Path) -> None:
    code, out = attempt(cleanup, {"olderThan": "a week"}, tmp_path)
    assert code == 3
    assert "payload.olderThan" in out
