"""Benchmark: the operator's memory and start-up with many finished BackgroundJobs.

Creates ``--count`` BackgroundJobs already in a final phase (status written
as an operator would have: Completed, with their attempts) and ``--pending``
new ones, in one namespace of the local kwok cluster. Then it starts a fresh
operator twice, each time printing its RSS over time (from ``/proc``), the
time from its start to the first attempt Job created, and to the last
pending job Completed:

- baseline: on an empty namespace with the same pending jobs, in the same run;
- loaded: on the namespace holding the finished ones.

Memory per finished object is the difference of the settled RSS divided by
``--count``. ``--operator-path DIR`` runs the operator from another checkout's
``operator/`` (e.g. a ``git worktree`` of an older commit) to compare versions.

    .venv/bin/python -m bench.scale [--count 10000] [--pending 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.api_client import ApiClient

from bench.dispatch import apply_crds, bench_operator, delete_namespace, gather_limited, namespace
from bgjobs.vocabulary import API_GROUP, API_VERSION
from tests.support.bgjobs import Jobs, bgjob, registry
from tests.support.cluster import ensure_cluster

SETTLED_FOR = 10.0  # seconds of RSS samples after the drain that count as "settled"


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def finished_status(name: str, now: datetime) -> dict[str, Any]:
    """A status as the operator writes it for a job that completed at once."""
    at = (now - timedelta(minutes=5)).isoformat()
    attempt = {"attempt": 1, "jobName": f"{name}-a1", "startedAt": at, "finishedAt": at}
    return {
        "phase": "Completed",
        "reason": "Completed",
        "message": "the handler exited 0",
        "priority": "Normal",
        "queuedAt": at,
        "startedAt": at,
        "completedAt": at,
        "jobName": f"{name}-a1",
        "result": {"sent": True, "messageId": f"m-{name}"},
        "attempts": [{**attempt, "exitCode": 0, "podName": f"{name}-a1-x"}],
        "conditions": [
            {"type": t, "status": "True", "reason": t, "lastTransitionTime": at}
            for t in ("Queued", "Succeeded")
        ],
    }


async def create_finished(api: ApiClient, ns: str, count: int) -> None:
    jobs = Jobs(api, ns)
    custom = client.CustomObjectsApi(api)
    now = datetime.now(UTC)
    done = 0
    t0 = time.monotonic()

    async def one(i: int) -> None:
        nonlocal done
        name = f"old-{i:06d}"
        payload = {"userId": i, "template": "welcome", "locale": "en"}
        await jobs.create(bgjob(name, payload=payload))
        await custom.patch_namespaced_custom_object_status(
            API_GROUP,
            API_VERSION,
            ns,
            "backgroundjobs",
            name,
            {"status": finished_status(name, now)},
            _content_type="application/merge-patch+json",  # type: ignore[call-arg]
        )
        done += 1
        if done % 2000 == 0:
            print(f"[bench] {done}/{count} finished objects ({time.monotonic() - t0:.0f}s)")

    await gather_limited(32, [one(i) for i in range(count)])


@dataclass
class Start:
    label: str
    objects: int
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MiB)
    first_job: float | None = None
    drained: float | None = None

    def settled(self) -> float:
        assert self.drained is not None
        tail = [m for t, m in self.rss if t >= self.drained]
        return max(tail) if tail else self.rss[-1][1]

    def peak(self) -> float:
        return max(m for _, m in self.rss)


async def start_and_measure(
    api: ApiClient, ns: str, pending: int, label: str, objects: int, args: argparse.Namespace
) -> Start:
    result = Start(label, objects)
    env = {"PYTHONPATH": args.operator_path} if args.operator_path else {}
    with bench_operator(ns, env) as op:
        op.write_registry(registry({"work": {}}))
        t0 = time.monotonic()
        done: set[str] = set()
        first = asyncio.Event()
        drained = asyncio.Event()

        async def follow() -> None:
            custom = client.CustomObjectsApi(api)
            batch = client.BatchV1Api(api)

            async def jobs_seen() -> None:
                async with watch.Watch() as w:
                    async for _ in w.stream(batch.list_namespaced_job, ns, timeout_seconds=3600):
                        if result.first_job is None:
                            result.first_job = time.monotonic() - t0
                            first.set()

            async def bgjobs_done() -> None:
                async with watch.Watch() as w:
                    stream = w.stream(
                        custom.list_namespaced_custom_object,
                        API_GROUP,
                        API_VERSION,
                        ns,
                        "backgroundjobs",
                        label_selector="bench=pending",
                        timeout_seconds=3600,
                    )
                    async for event in stream:
                        obj = event["object"]
                        if (obj.get("status") or {}).get("phase") == "Completed":
                            done.add(obj["metadata"]["name"])
                            if len(done) == pending and result.drained is None:
                                result.drained = time.monotonic() - t0
                                drained.set()

            await asyncio.gather(jobs_seen(), bgjobs_done())

        follower = asyncio.create_task(follow())
        await asyncio.to_thread(op.start, 600)
        assert op.proc is not None
        pid = op.proc.pid

        async def sample() -> None:
            while True:
                result.rss.append((time.monotonic() - t0, rss_mib(pid)))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        try:
            await asyncio.wait_for(drained.wait(), 1800)
            await asyncio.sleep(SETTLED_FOR)  # RSS samples after the drain (not a sync)
        finally:
            sampler.cancel()
            follower.cancel()
            op.stop()
    return result


def print_start(s: Start) -> None:
    print(f"\n{s.label}: {s.objects} finished objects present")
    marks = [t for t in (5, 10, 20, 30, 60, 120, 300) if t <= s.rss[-1][0]]
    over = ", ".join(f"{t}s {next(m for ts, m in s.rss if ts >= t):.0f}" for t in marks)
    print(f"  RSS over time (MiB)            {over}")
    print(f"  RSS peak / settled             {s.peak():.0f} / {s.settled():.0f} MiB")
    print(f"  start -> first attempt Job     {s.first_job:.1f} s")
    print(f"  start -> pending all Completed {s.drained:.1f} s")


async def add_pending(api: ApiClient, ns: str, pending: int) -> None:
    jobs = Jobs(api, ns)

    async def one(i: int) -> None:
        job = bgjob(f"new-{i:04d}", fake={"run-for": "100ms"})
        job["metadata"]["labels"] = {"bench": "pending"}
        await jobs.create(job)

    await gather_limited(16, [one(i) for i in range(pending)])


async def main_async(args: argparse.Namespace) -> None:
    cluster = ensure_cluster()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    await apply_crds()
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    cfg.connection_pool_maxsize = 48
    async with ApiClient(cfg) as api:
        empty = await namespace(api, f"bench-empty-{secrets.token_hex(2)}")
        loaded = await namespace(api, f"bench-scale-{secrets.token_hex(2)}")
        try:
            print(f"[bench] creating {args.count} finished BackgroundJobs...", flush=True)
            t0 = time.monotonic()
            await create_finished(api, loaded, args.count)
            print(f"[bench] created in {time.monotonic() - t0:.0f}s", flush=True)
            await add_pending(api, empty, args.pending)
            base = await start_and_measure(api, empty, args.pending, "baseline", 0, args)
            await add_pending(api, loaded, args.pending)
            big = await start_and_measure(api, loaded, args.pending, "loaded", args.count, args)
        finally:
            for ns in (empty, loaded):
                await delete_namespace(api, ns, within=1800)
    print_start(base)
    print_start(big)
    per_object = (big.settled() - base.settled()) * 1024 * 1024 / args.count
    print(f"\nmemory per finished object      {per_object:.0f} bytes (settled, over the baseline)")
    assert big.first_job is not None
    assert base.first_job is not None
    print(f"first dispatch, loaded / base   {big.first_job / base.first_job:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=10000, help="finished objects")
    parser.add_argument("--pending", type=int, default=50, help="new jobs to drain")
    parser.add_argument("--operator-path", help="run the operator from this operator/ directory")
    args = parser.parse_args()
    if args.count < 1 or args.pending < 1:
        parser.error("--count and --pending must be at least 1")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
