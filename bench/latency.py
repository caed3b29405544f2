"""Benchmark: latency when idle, rate when loaded, CPU per job, priority in a burst.

On the local kwok cluster, BackgroundJobs through a fresh operator against
plain batch/v1 Jobs (the baseline), side by side in one run:

- idle: ``--idle`` jobs created one at a time, each after the previous one
  finished: create -> attempt Job created, and create -> pod Running, for
  both (a plain Job's "Job created" is its create call);
- sustained: jobs offered at each ``--rates`` (jobs/s) for ``--window``
  seconds: the completed rate in the window and the backlog at its end, and
  the CPU the operator and each control-plane process used per completed job
  (from ``/proc``);
- burst: ``--burst`` Low jobs then one Urgent, with ``maxConcurrentJobs`` 5:
  how many Low jobs started between the Urgent's creation and its start, and
  its create -> start.

    .venv/bin/python -m bench.latency [--idle 50] [--rates 10,20] [--window 60]

``--operator-path DIR`` runs the operator from another checkout's
``operator/`` to compare versions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.api_client import ApiClient

from bench.dispatch import (
    apply_crds,
    bench_operator,
    delete_namespace,
    gather_limited,
    namespace,
    pct,
)
from bgjobs.vocabulary import LABEL_JOB
from tests.conftest import release_attempt_jobs
from tests.support.bgjobs import Jobs, bgjob, registry
from tests.support.cluster import ensure_cluster
from tests.support.fake_pods import batch_job, fake_outcome

CONTROL_PLANE = ("kube-apiserver", "etcd", "kube-controller-manager", "kube-scheduler", "kwok")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def control_plane_pids() -> dict[str, int]:
    found: dict[str, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        for name in CONTROL_PLANE:
            if comm.startswith(name[:15]) and name not in found:
                found[name] = int(entry)
    return found


class Watcher:
    """When each job's attempt Job appeared, its pod ran, and it finished."""

    def __init__(self) -> None:
        self.job_seen: dict[str, float] = {}
        self.pod_running: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def run(self, api: ApiClient, ns: str) -> None:
        await asyncio.gather(self._jobs(api, ns), self._pods(api, ns))

    async def _jobs(self, api: ApiClient, ns: str) -> None:
        batch = client.BatchV1Api(api)
        async with watch.Watch() as w:
            async for event in w.stream(batch.list_namespaced_job, ns, timeout_seconds=3600):
                job = event["object"]
                name = (job.metadata.labels or {}).get(LABEL_JOB) or job.metadata.name
                self.job_seen.setdefault(name, time.time())
                if any(
                    c.type in ("Complete", "Failed") and c.status == "True"
                    for c in (job.status.conditions or [])
                ):
                    self.finished.setdefault(name, time.time())
                    self.changed.set()

    async def _pods(self, api: ApiClient, ns: str) -> None:
        core = client.CoreV1Api(api)
        async with watch.Watch() as w:
            async for event in w.stream(core.list_namespaced_pod, ns, timeout_seconds=3600):
                pod = event["object"]
                labels = pod.metadata.labels or {}
                owner = labels.get(LABEL_JOB) or labels.get("batch.kubernetes.io/job-name")
                if owner and pod.status and pod.status.phase not in (None, "Pending"):
                    self.pod_running.setdefault(owner, time.time())

    async def until(self, done: Callable[[], bool], within: float) -> None:
        deadline = time.monotonic() + within
        while not done():
            self.changed.clear()
            if time.monotonic() > deadline:
                raise TimeoutError("bench: jobs did not finish in time")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1)


Create = Callable[[str, dict[str, Any]], Awaitable[None]]


class Side:
    """One side of the comparison: how to create a job, and its watcher."""

    def __init__(self, label: str, api: ApiClient, ns: str, bgjobs: bool) -> None:
        self.label, self.api, self.ns, self.bgjobs = label, api, ns, bgjobs
        self.watcher = Watcher()
        self.created: dict[str, float] = {}
        self.jobs = Jobs(api, ns)
        self.batch = client.BatchV1Api(api)

    async def create(self, name: str, priority: str = "Normal") -> None:
        if self.bgjobs:
            await self.jobs.create(bgjob(name, priority=priority, fake={"run-for": "100ms"}))
        else:
            job = batch_job(name, pod_annotations=fake_outcome(run_for="100ms"))
            await self.batch.create_namespaced_job(self.ns, job)  # type: ignore[arg-type]  # a dict is sent as is
        self.created[name] = time.time()
        if not self.bgjobs:
            self.watcher.job_seen.setdefault(name, self.created[name])


async def idle(side: Side, count: int) -> dict[str, float]:
    for i in range(count):
        name = f"idle-{i:03d}"
        await side.create(name)
        await side.watcher.until(lambda n=name: n in side.watcher.finished, within=60)  # type: ignore[misc]
    names = [f"idle-{i:03d}" for i in range(count)]
    to_job = [side.watcher.job_seen[n] - side.created[n] for n in names]
    to_pod = [
        side.watcher.pod_running[n] - side.created[n]
        for n in names
        if n in side.watcher.pod_running
    ]
    return {
        "job_p50": pct(to_job, 0.5),
        "job_p99": pct(to_job, 0.99),
        "pod_p50": pct(to_pod, 0.5) if to_pod else float("nan"),
    }


async def sustained(
    side: Side, rate: float, window: float, pids: dict[str, int]
) -> dict[str, float]:
    prefix = f"r{int(rate)}-"
    cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
    t0 = time.time()
    offered = 0
    tasks: list[asyncio.Task[None]] = []
    while time.time() - t0 < window:
        due = int((time.time() - t0) * rate) + 1
        while offered < due:
            tasks.append(asyncio.create_task(side.create(f"{prefix}{offered:05d}")))
            offered += 1
        await asyncio.sleep(0.02)  # pacing the offered rate, not a synchronisation
    await asyncio.gather(*tasks)
    end = time.time()
    done_in_window = sum(
        1 for n, t in side.watcher.finished.items() if n.startswith(prefix) and t <= end
    )
    backlog = offered - done_in_window
    await side.watcher.until(
        lambda: sum(1 for n in side.watcher.finished if n.startswith(prefix)) >= offered,
        within=900,
    )
    cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in pids.items()}
    return {
        "offered": offered,
        "rate": done_in_window / (end - t0),
        "backlog": backlog,
        **{f"cpu_ms_{k}": v * 1000 / offered for k, v in cpu.items()},
    }


async def burst(side: Side, count: int) -> tuple[int, float]:
    await gather_limited(50, [side.create(f"low-{i:05d}", "Low") for i in range(count)])
    created = time.time()
    await side.create("urgent", "Urgent")
    await side.watcher.until(lambda: "urgent" in side.watcher.job_seen, within=600)
    started = side.watcher.job_seen["urgent"]
    overtook = sum(
        1
        for n, t in side.watcher.job_seen.items()
        if n.startswith("low-") and created < t < started
    )
    return overtook, started - created


@contextlib.asynccontextmanager
async def side_on(
    api: ApiClient, label: str, doc: dict[str, Any] | None, env: dict[str, str]
) -> AsyncIterator[tuple[Side, int | None]]:
    """A fresh namespace, watched; with ``doc`` (a registry) a fresh operator
    for it: (the side, the operator's pid). Everything is removed afterwards."""
    ns = await namespace(api, f"bench-{label}")
    side = Side(label, api, ns, doc is not None)
    follower = asyncio.create_task(side.watcher.run(api, ns))
    try:
        with bench_operator(ns, env) as op:
            if doc is not None:
                op.write_registry(doc)
                await asyncio.to_thread(op.start, 60)
            try:
                yield side, op.proc.pid if op.proc else None
            finally:
                op.stop()
    finally:
        follower.cancel()
        # The bench follows the Jobs: the operator may stop before it released
        # the last ones (their outcome finalizer).
        await release_attempt_jobs(api, ns)
        await delete_namespace(api, ns, within=1800)


async def main_async(args: argparse.Namespace) -> None:
    cluster = ensure_cluster()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    await apply_crds()
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    cfg.connection_pool_maxsize = 64
    rates = [float(r) for r in args.rates.split(",")]
    plane = control_plane_pids()
    results: dict[str, dict[str | float, Any]] = {}
    env = {"PYTHONPATH": args.operator_path} if args.operator_path else {}
    async with ApiClient(cfg) as api:
        unlimited = registry({"work": {}}, maxConcurrentJobs=0)  # as plain Jobs are
        for label, doc in (("bgjobs", unlimited), ("plain", None)):
            async with side_on(api, label, doc, env) as (side, pid):
                pids = dict(plane) | ({"operator": pid} if pid else {})
                out: dict[str | float, Any] = {}
                print(f"[bench] {label}: idle, {args.idle} one at a time", flush=True)
                out["idle"] = await idle(side, args.idle)
                print(f"[bench] {label} idle: {out['idle']}", flush=True)
                for rate in rates:
                    print(f"[bench] {label}: {rate:g} jobs/s for {args.window:g}s", flush=True)
                    out[rate] = await sustained(side, rate, args.window, pids)
                    print(f"[bench] {label} {rate:g}/s: {out[rate]}", flush=True)
                results[label] = out
        if args.burst:
            capped = registry({"work": {}}, maxConcurrentJobs=5)
            async with side_on(api, "burst", capped, env) as (side, _):
                print(f"[bench] burst: {args.burst} Low, then one Urgent (cap 5)", flush=True)
                overtook, wait = await burst(side, args.burst)
                results["burst"] = {"overtook": overtook, "wait": wait}
                print(f"[bench] burst: {results['burst']}", flush=True)
    report(results, rates)


def report(results: dict[str, dict[str | float, Any]], rates: list[float]) -> None:
    bg, plain = results["bgjobs"], results["plain"]
    print(f"\nat {datetime.now(UTC):%Y-%m-%d %H:%M}Z, load average {os.getloadavg()[0]:.1f}")
    print(
        f"idle create -> Job created p50/p99  {bg['idle']['job_p50'] * 1000:.0f} / "
        f"{bg['idle']['job_p99'] * 1000:.0f} ms"
    )
    print(
        f"idle create -> pod Running p50      {bg['idle']['pod_p50'] * 1000:.0f} ms, plain "
        f"{plain['idle']['pod_p50'] * 1000:.0f} ms, ratio "
        f"{bg['idle']['pod_p50'] / plain['idle']['pod_p50']:.2f}"
    )
    for rate in rates:
        b, p = bg[rate], plain[rate]
        print(
            f"{rate:g}/s offered: completed {b['rate']:.1f}/s vs plain {p['rate']:.1f}/s "
            f"(ratio {b['rate'] / p['rate']:.2f}); backlog at the end {b['backlog']} vs "
            f"{p['backlog']}"
        )
        cpu_b = {k[7:]: v for k, v in b.items() if k.startswith("cpu_ms_")}
        cpu_p = {k[7:]: v for k, v in p.items() if k.startswith("cpu_ms_")}
        total_b, total_p = sum(cpu_b.values()), sum(cpu_p.values())
        detail = ", ".join(f"{k} {v:.0f}" for k, v in sorted(cpu_b.items()))
        print(
            f"  CPU per job {total_b:.0f} ms vs plain {total_p:.0f} ms (ratio "
            f"{total_b / total_p:.2f}); bgjobs: {detail}"
        )
    if "burst" in results:
        br = results["burst"]
        print(
            f"burst: {br['overtook']} Low started between the Urgent's creation and its "
            f"start; create -> its Job {br['wait']:.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--idle", type=int, default=50, help="jobs one at a time")
    parser.add_argument("--rates", default="10,20", help="offered jobs/s, comma-separated")
    parser.add_argument("--window", type=float, default=60, help="seconds at each rate")
    parser.add_argument("--burst", type=int, default=2000, help="Low jobs (0 = skip)")
    parser.add_argument("--operator-path", help="run the operator from this operator/ directory")
    args = parser.parse_args()
    if args.idle < 1 or args.window <= 0:
        parser.error("--idle must be at least 1 and --window positive")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
