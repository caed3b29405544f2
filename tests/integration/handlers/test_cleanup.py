"""The cleanup handler against the local cluster's API server."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.bgjobs import Jobs, bgjob
from tests.support.cluster import Cluster
from tests.support.handlers import attempt, load_handler

module = load_handler("cleanup")
cleanup = module.cleanup
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


@pytest.mark.parametrize(
    "payload",
    [{"dryRun": "true"}, {"dryRun": 0}, {"olderThan": 7}, {"namespaces": "app"}],
)
def test_no_silent_coercion(tmp_path: Path, payload: dict[str, Any]) -> None:
    code, out = attempt(cleanup, payload, tmp_path)
    assert (code, out.startswith(f"payload.{next(iter(payload))}")) == (3, True), out


CUTOFF = datetime(2026, 11, 21, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "phase"),
    [
        ({"phase": "Completed", "completedAt": "2026-11-20T00:00:00Z"}, "Completed"),
        ({"phase": "Failed", "completedAt": "2026-11-01T00:00:00Z"}, "Failed"),
        ({"phase": "Completed", "completedAt": "2026-11-21T00:00:00Z"}, None),  # at the cutoff
        ({"phase": "Completed", "completedAt": "2026-11-22T00:00:00Z"}, None),  # newer
        ({"phase": "Cancelled", "completedAt": "2026-11-01T00:00:00Z"}, None),  # not asked for
        ({"phase": "Running"}, None),
        ({"phase": "Completed"}, None),  # finished, but no completedAt: kept
        (None, None),
    ],
)
def test_which_jobs_are_old_enough(status: dict[str, Any] | None, phase: str | None) -> None:
    obj = {"metadata": {"name": "j"}, "status": status}
    assert module.expired_phase(obj, ("Completed", "Failed"), CUTOFF) == phase
