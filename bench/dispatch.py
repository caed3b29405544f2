"""Benchmark: BackgroundJobs through the operator vs the same number of plain Jobs.

Both run on the same cluster in the same process. Prints the wall time to
all-finished for each, their ratio (the operator's overhead over bare Jobs),
and the latency from a create call returning to the Job appearing and to its
pod starting (p50/p99). Progress is followed through watches, not by
polling lists.

    .venv/bin/python -m bench.dispatch [--count 1000] [--max-concurrent 0]
    .venv/bin/python -m bench.dispatch --nodes real [--count 200]

``--nodes kwok`` (default): the local kwok cluster (`make cluster-up`), fake
pods that finish after ``--run-for``. ``--nodes real``: the cluster with a
real kubelet node (`make cluster-up NODES=real`, started if down), pods of
the node's busybox image that exit 0 at once, so the figures are the
operator's and the kubelet's costs, not a handler's. Needs redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.api_client import ApiClient

from bgjobs.vocabulary import API_GROUP, API_VERSION, LABEL_JOB
from tests.conftest import release_attempt_jobs
from tests.support.bgjobs import Jobs, bgjob, registry
from tests.support.cluster import BUSYBOX_IMAGE, ensure_cluster, ensure_real_cluster, kubectl
from tests.support.fake_pods import batch_job, fake_outcome
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually
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
        self.pod_started: dict[str, float] = {}  # BackgroundJob or plain Job -> pod started
        self.changed = asyncio.Event()

    async def follow_bgjobs(self, api: ApiClient, ns: str) -> None:
        custom = client.CustomObjectsApi(api)
        async with watch.Watch() as w:
            stream = w.stream(
                custom.list_namespaced_custom_object,
                API_GROUP,
                API_VERSION,
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
                owner = (job.metadata.labels or {}).get(LABEL_JOB)
                if owner:
                    self.job_seen.setdefault(owner, time.time())
                if any(
                    c.type in ("Complete", "Failed") and c.status == "True"
                    for c in (job.status.conditions or [])
                ):
                    self.finished.add(job.metadata.name)
                    self.changed.set()

    async def follow_pods(self, api: ApiClient, ns: str) -> None:
        """When each job's first pod left Pending (a container was started)."""
        core = client.CoreV1Api(api)
        async with watch.Watch() as w:
            async for event in w.stream(core.list_namespaced_pod, ns, timeout_seconds=3600):
                pod = event["object"]
                labels = pod.metadata.labels or {}
                owner = labels.get(LABEL_JOB) or labels.get("batch.kubernetes.io/job-name")
                if owner and pod.status and pod.status.phase not in (None, "Pending"):
                    self.pod_started.setdefault(owner, time.time())

    async def wait_for(self, count: int, what: str, within: float) -> None:
        deadline = time.monotonic() + within
        while len(self.finished) < count:
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what}: {len(self.finished)}/{count} after {within}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(left, 5))


class Run:
    """One side's figures: wall time to all finished, and per-job latencies."""

    def __init__(self, wall: float, created: dict[str, float], tracker: Tracker) -> None:
        self.wall = wall
        self.to_job = [tracker.job_seen[n] - t for n, t in created.items() if n in tracker.job_seen]
        self.to_pod = [
            tracker.pod_started[n] - t for n, t in created.items() if n in tracker.pod_started
        ]


async def run_bgjobs(api: ApiClient, ns: str, args: argparse.Namespace) -> Run:
    jobs = Jobs(api, ns)
    tracker = Tracker()
    tasks = [
        asyncio.create_task(tracker.follow_bgjobs(api, ns)),
        asyncio.create_task(tracker.follow_jobs(api, ns)),
        asyncio.create_task(tracker.follow_pods(api, ns)),
    ]
    created_at: dict[str, float] = {}
    fake = None if args.nodes == "real" else {"run-for": args.run_for}

    async def create(i: int) -> None:
        name = f"bg-{i:04d}"
        await jobs.create(bgjob(name, fake=fake))
        created_at[name] = time.time()

    t0 = time.monotonic()
    try:
        await gather_limited(16, [create(i) for i in range(args.count)])
        await tracker.wait_for(args.count, "BackgroundJobs", within=1800)
    finally:
        for task in tasks:
            task.cancel()
    return Run(time.monotonic() - t0, created_at, tracker)


async def run_plain(api: ApiClient, ns: str, args: argparse.Namespace) -> Run:
    batch = client.BatchV1Api(api)
    tracker = Tracker()
    tasks = [
        asyncio.create_task(tracker.follow_jobs(api, ns)),
        asyncio.create_task(tracker.follow_pods(api, ns)),
    ]
    created_at: dict[str, float] = {}
    if args.nodes == "real":
        template: dict[str, Any] = {"image": BUSYBOX_IMAGE}
    else:
        template = {"pod_annotations": fake_outcome(run_for=args.run_for)}

    async def create(i: int) -> None:
        name = f"plain-{i:04d}"
        await batch.create_namespaced_job(ns, batch_job(name, **template))  # type: ignore[arg-type]  # a dict is sent as is
        created_at[name] = time.time()
        tracker.job_seen.setdefault(name, created_at[name])  # the create is the Job

    t0 = time.monotonic()
    try:
        await gather_limited(16, [create(i) for i in range(args.count)])
        await tracker.wait_for(args.count, "plain Jobs", within=1800)
    finally:
        for task in tasks:
            task.cancel()
    return Run(time.monotonic() - t0, created_at, tracker)


@contextlib.contextmanager
def bench_operator(ns: str, env: dict[str, str] | None = None) -> Iterator[OperatorProcess]:
    """An operator for ``ns`` (not started yet) with its own Redis and working
    directory, both removed afterwards; the cluster is ``$KUBECONFIG``'s."""
    with RedisServer() as redis, tempfile.TemporaryDirectory() as tmp:
        yield OperatorProcess(
            namespace=ns,
            redis_url=redis.url,
            prefix="bench:",
            workdir=Path(tmp),
            kubeconfig=Path(os.environ["KUBECONFIG"]),
            env=env,
        )


async def apply_crds() -> None:
    """The CRDs of this checkout, on the cluster (a fresh one has none)."""
    apply = [kubectl(), "apply", "--server-side", "-f", "crds"]
    await asyncio.to_thread(subprocess.run, apply, check=True, capture_output=True)


async def namespace(api: ApiClient, prefix: str) -> str:
    core = client.CoreV1Api(api)
    name = f"{prefix}-{secrets.token_hex(3)}"
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    async def default_service_account() -> bool:
        accounts = await core.list_namespaced_service_account(name)
        return any(sa.metadata.name == "default" for sa in accounts.items)

    await eventually(
        default_service_account, within=20, interval=0.2, what=f"ServiceAccount {name}/default"
    )
    return name


async def installed_operators(api: ApiClient) -> list[str]:
    """bgjobs operators installed by the chart: they would judge and run the
    bench's jobs too (make down NODES=real removes the demo's)."""
    found = await client.AppsV1Api(api).list_deployment_for_all_namespaces(
        label_selector="app.kubernetes.io/name=bgjobs"
    )
    return [f"{d.metadata.namespace}/{d.metadata.name}" for d in found.items]


async def main_async(args: argparse.Namespace) -> None:
    cluster = ensure_real_cluster() if args.nodes == "real" else ensure_cluster()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    cfg.connection_pool_maxsize = 32
    async with ApiClient(cfg) as api:
        others = await installed_operators(api)
        if others:
            raise SystemExit(
                f"bench: bgjobs is installed in this cluster ({', '.join(others)}); "
                "uninstall it first (e.g. BGJOBS_NODES=real hack/system.sh down)"
            )
        await apply_crds()
        ns_bg = await namespace(api, "bench-bgjobs")
        ns_plain = await namespace(api, "bench-plain")
        with bench_operator(ns_bg) as op:
            work: dict[str, Any] = {}
            if args.nodes == "real":
                # busybox has no USER: run it as nobody, so that the
                # restricted defaults of attempt pods admit it.
                work = {
                    "image": BUSYBOX_IMAGE,
                    "imagePullPolicy": "Never",
                    "podSecurityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                }
            op.write_registry(registry({"work": work}, maxConcurrentJobs=args.max_concurrent))
            op.start()
            try:
                cap = args.max_concurrent or "unlimited"
                print(f"[bench] {args.count} BackgroundJobs (maxConcurrentJobs {cap})", flush=True)
                bg = await run_bgjobs(api, ns_bg, args)
            finally:
                op.stop()
        # The plain run starts on an empty node, as the first one did. (The
        # operator may have stopped before it released the last Jobs.)
        await release_attempt_jobs(api, ns_bg)
        await delete_namespace(api, ns_bg)
        print(f"[bench] {args.count} plain batch/v1 Jobs...", flush=True)
        plain = await run_plain(api, ns_plain, args)
        await delete_namespace(api, ns_plain)
    report(args, bg, plain)


async def delete_namespace(api: ApiClient, name: str, within: float = 300) -> None:
    """Delete a namespace and wait until it (and its pods) are gone."""
    core = client.CoreV1Api(api)
    await core.delete_namespace(name)

    async def gone() -> bool:
        try:
            await core.read_namespace(name)
        except client.ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    await eventually(gone, within=within, interval=1, what=f"namespace {name} to be gone")


def report(args: argparse.Namespace, bg: Run, plain: Run) -> None:
    def ms(values: list[float], q: float) -> str:
        return f"{pct(values, q) * 1000:8.0f} ms" if values else "       - (none seen)"

    print()
    print(f"jobs ({args.nodes} nodes)                  {args.count}")
    print(f"BackgroundJobs, all finished      {bg.wall:8.1f} s")
    print(f"plain batch/v1 Jobs, all finished {plain.wall:8.1f} s")
    print(f"ratio (bgjobs / plain)            {bg.wall / plain.wall:8.2f}")
    print(f"enqueue -> Job created  p50       {ms(bg.to_job, 0.5)}")
    print(f"enqueue -> Job created  p99       {ms(bg.to_job, 0.99)}")
    if args.nodes == "real":  # fake pods start when kwok says so: not a figure
        for label, run in (("BackgroundJob", bg), ("plain Job", plain)):
            for name, q in (("p50", 0.5), ("p99", 0.99)):
                print(f"{label + ' -> pod started ' + name:<34}{ms(run.to_pod, q)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", choices=("kwok", "real"), default="kwok")
    parser.add_argument("--count", type=int, help="jobs on each side (1000 kwok, 200 real)")
    parser.add_argument("--max-concurrent", type=int, default=0, help="0 = unlimited")
    parser.add_argument("--run-for", default="100ms", help="how long each fake pod runs (kwok)")
    args = parser.parse_args()
    if args.count is None:
        args.count = 200 if args.nodes == "real" else 1000
    if args.count < 1:
        parser.error("--count must be at least 1")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
