"""Benchmark: 1,000 BackgroundJobs through the operator vs 1,000 plain batch/v1 Jobs.

Both run on the same local cluster in the same process, with pods that
finish after ``--run-for``. Prints the wall time to all-finished for each,
their ratio (the operator's overhead over bare Jobs), and the latency from a
BackgroundJob's create call returning to its first attempt's Job appearing
(p50/p99). Progress is followed through watches, not by polling lists.

    .venv/bin/python -m bench.dispatch [--count 1000] [--max-concurrent 0]

Needs the local cluster (`make cluster-up`) and redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.api_client import ApiClient

from tests.support.bgjobs import Jobs, bgjob, registry
from tests.support.cluster import ensure_cluster, kubectl
from tests.support.fake_pods import batch_job, fake_outcome
from tests.support.operator import OperatorProcess
from tests.support.redis_server import RedisServer


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def gather_limited(n: int, coros: list[Any]) -> list[Any]:
    sem = asyncio.Semaphore(n)

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


class Tracker:
    """Follows objects through a watch (no list polling that would load the API server)."""

    def __init__(self) -> None:
        self.finished: set[str] = set()
        self.job_seen: dict[str, float] = {}  # BackgroundJob name -> its first Job seen
        self.changed = asyncio.Event()

    async def follow_bgjobs(self, api: ApiClient, ns: str) -> None:
        custom = client.CustomObjectsApi(api)
        async with watch.Watch() as w:
            stream = w.stream(
                custom.list_namespaced_custom_object,
                "bgjobs.io",
                "v1alpha1",
                ns,
                "backgroundjobs",
                timeout_seconds=3600,
            )
            async for event in stream:
                obj = event["object"]
                if (obj.get("status") or {}).get("phase") in ("Completed", "Failed"):
                    self.finished.add(obj["metadata"]["name"])
                    self.changed.set()

    async def follow_jobs(self, api: ApiClient, ns: str) -> None:
        batch = client.BatchV1Api(api)
        async with watch.Watch() as w:
            async for event in w.stream(batch.list_namespaced_job, ns, timeout_seconds=3600):
                job = event["object"]
                owner = (job.metadata.labels or {}).get("bgjobs.io/job")
                if owner:
                    self.job_seen.setdefault(owner, time.time())
                if any(
                    c.type in ("Complete", "Failed") and c.status == "True"
                    for c in (job.status.conditions or [])
                ):
                    self.finished.add(job.metadata.name)
                    self.changed.set()

    async def wait_for(self, count: int, what: str, within: float) -> None:
        deadline = time.monotonic() + within
        while len(self.finished) < count:
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what}: {len(self.finished)}/{count} after {within}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 5))


async def run_bgjobs(
    api: ApiClient, ns: str, count: int, run_for: str
) -> tuple[float, list[float]]:
    jobs = Jobs(api, ns)
    tracker = Tracker()
    tasks = [
        asyncio.create_task(tracker.follow_bgjobs(api, ns)),
        asyncio.create_task(tracker.follow_jobs(api, ns)),
    ]
    created_at: dict[str, float] = {}

    async def create(i: int) -> None:
        name = f"bg-{i:04d}"
        await jobs.create(bgjob(name, fake={"run-for": run_for}))
        created_at[name] = time.time()

    t0 = time.monotonic()
    try:
        await gather_limited(16, [create(i) for i in range(count)])
        await tracker.wait_for(count, "BackgroundJobs", within=1800)
    finally:
        for task in tasks:
            task.cancel()
    wall = time.monotonic() - t0
    latency = [tracker.job_seen[name] - created_at[name] for name in created_at]
    return wall, latency


async def run_plain(api: ApiClient, ns: str, count: int, run_for: str) -> float:
    batch = client.BatchV1Api(api)
    tracker = Tracker()
    task = asyncio.create_task(tracker.follow_jobs(api, ns))
    t0 = time.monotonic()
    try:
        await gather_limited(
            16,
            [
                batch.create_namespaced_job(
                    ns, batch_job(f"plain-{i:04d}", pod_annotations=fake_outcome(run_for=run_for))
                )
                for i in range(count)
            ],
        )
        await tracker.wait_for(count, "plain Jobs", within=1800)
    finally:
        task.cancel()
    return time.monotonic() - t0


async def namespace(api: ApiClient, prefix: str) -> str:
    core = client.CoreV1Api(api)
    name = f"{prefix}-{secrets.token_hex(3)}"
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    for _ in range(100):
        accounts = await core.list_namespaced_service_account(name)
        if any(sa.metadata.name == "default" for sa in accounts.items):
            return name
        await asyncio.sleep(0.2)
    raise TimeoutError("default ServiceAccount never appeared")


async def main_async(args: argparse.Namespace) -> None:
    cluster = ensure_cluster()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    cfg.connection_pool_maxsize = 32
    async with ApiClient(cfg) as api:
        apply = [kubectl(), "apply", "--server-side", "-f", "crds"]
        await asyncio.to_thread(subprocess.run, apply, check=True, capture_output=True)
        ns_bg = await namespace(api, "bench-bgjobs")
        ns_plain = await namespace(api, "bench-plain")
        with RedisServer() as redis, tempfile.TemporaryDirectory() as tmp:
            op = OperatorProcess(
                namespace=ns_bg,
                redis_url=redis.url,
                prefix="bench:",
                workdir=Path(tmp),
                kubeconfig=cluster.kubeconfig,
            )
            op.write_registry(registry({"work": {}}, maxConcurrentJobs=args.max_concurrent))
            op.start()
            try:
                cap = args.max_concurrent or "unlimited"
                print(f"[bench] {args.count} BackgroundJobs (maxConcurrentJobs {cap})", flush=True)
                bg_wall, latency = await run_bgjobs(api, ns_bg, args.count, args.run_for)
            finally:
                op.stop()
        print(f"[bench] {args.count} plain batch/v1 Jobs...", flush=True)
        plain_wall = await run_plain(api, ns_plain, args.count, args.run_for)
        core = client.CoreV1Api(api)
        for ns in (ns_bg, ns_plain):
            await core.delete_namespace(ns)
    print()
    print(f"jobs                              {args.count}")
    print(f"BackgroundJobs, all finished      {bg_wall:8.1f} s")
    print(f"plain batch/v1 Jobs, all finished {plain_wall:8.1f} s")
    print(f"ratio (bgjobs / plain)            {bg_wall / plain_wall:8.2f}")
    print(f"enqueue -> Job created  p50       {statistics.median(latency) * 1000:8.0f} ms")
    print(f"enqueue -> Job created  p99       {pct(latency, 0.99) * 1000:8.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--max-concurrent", type=int, default=0, help="0 = unlimited")
    parser.add_argument("--run-for", default="100ms", help="how long each fake pod runs")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
