"""Watch the pods of a namespace and keep how each container ended.

A pod the Job controller stops at a deadline is deleted once it has
terminated: its final state exists only in the watch events that passed by,
so tests that need it record it while it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.api_client import ApiClient


class PodWatch:
    """``terminated[pod name]``: the last ``state.terminated`` seen of its first container;
    ``of_job[batch Job name]``: the names of its pods."""

    def __init__(self) -> None:
        self.terminated: dict[str, dict[str, Any]] = {}
        self.of_job: dict[str, set[str]] = {}

    def see(self, pod: Any) -> None:
        name = pod.metadata.name
        job = (pod.metadata.labels or {}).get("batch.kubernetes.io/job-name")
        if job:
            self.of_job.setdefault(job, set()).add(name)
        for status in (pod.status and pod.status.container_statuses) or []:
            term = status.state and status.state.terminated
            if term:
                self.terminated[name] = {
                    "exitCode": term.exit_code,
                    "reason": term.reason,
                    "message": term.message or "",
                }


@contextlib.asynccontextmanager
async def watching_pods(api: ApiClient, namespace: str) -> AsyncIterator[PodWatch]:
    seen = PodWatch()
    core = client.CoreV1Api(api)

    async def run() -> None:
        while True:  # a watch ends after its server-side timeout: start another
            async with watch.Watch() as stream:
                events = stream.stream(core.list_namespaced_pod, namespace, timeout_seconds=60)
                async for event in events:
                    seen.see(event["object"])

    task = asyncio.create_task(run())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
