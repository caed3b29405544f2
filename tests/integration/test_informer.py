"""The operator's own watch of BackgroundJobs, against the real API server."""

from __future__ import annotations

import asyncio
from typing import Any

from bgjobs import API_GROUP, API_VERSION
from bgjobs.k8s import Kube
from bgjobs.k8s.informer import Informer
from tests.support.bgjobs import Jobs, bgjob
from tests.support.poll import eventually


async def delete(jobs: Jobs, name: str) -> None:
    await jobs.custom.delete_namespaced_custom_object(
        API_GROUP, API_VERSION, jobs.namespace, "backgroundjobs", name
    )


async def test_it_lists_page_by_page_then_watches_and_reports_a_missed_deletion(
    kube: Kube, jobs: Jobs, namespace: str
) -> None:
    for i in range(5):
        await jobs.create(bgjob(f"old-{i}", delay="1h"))
    events: list[tuple[str, str]] = []

    async def handle(kind: str, obj: dict[str, Any]) -> None:
        events.append((kind, obj["metadata"]["name"]))

    informer = Informer(kube, "backgroundjobs", namespace, handle, page=2)  # three pages
    task = asyncio.create_task(informer.run(lambda: None))
    try:

        async def listed() -> bool:
            return len([n for k, n in events if k == "LISTED"]) == 5

        await eventually(listed, within=10, what="the five listed")
        assert informer.version is not None  # it watches from the list's version
        await jobs.create(bgjob("new", delay="1h"))
        await delete(jobs, "old-0")

        async def watched() -> bool:
            return ("ADDED", "new") in events and ("DELETED", "old-0") in events

        await eventually(watched, within=10, what="the watch's ADDED and DELETED")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sorted(n for k, n in events if k == "LISTED") == [f"old-{i}" for i in range(5)]

    # Not watching (as after a 410), a job is deleted: the next list says it is GONE.
    await delete(jobs, "old-1")
    events.clear()
    informer.version = None
    await informer._list()
    assert ("GONE", "old-1") in events
    assert sorted(n for k, n in events if k == "LISTED") == ["new", "old-2", "old-3", "old-4"]
