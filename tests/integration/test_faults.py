"""The operator heals itself: supervised loops, timeouts, fenced leadership, registry first.

Faults are real: Toxiproxy between the operator and the API server (reset
connections, a stall, a cut), a test hook that raises inside a loop, a
registry ConfigMap that is not there yet.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from bgjobs.k8s import Kube
from bgjobs.k8s.lease import LeaderElector, Timing
from tests.support.bgjobs import Jobs, bgjob, registry, status
from tests.support.cluster import Cluster
from tests.support.operator import SERVING_LINE, OperatorProcess
from tests.support.poll import eventually
from tests.support.toxiproxy import Proxy, Toxiproxy, kubeconfig_through, upstream_of

Run = Callable[..., OperatorProcess]
pytestmark = pytest.mark.usefixtures("fake_pods")

LOOPS = ("registry", "redis-ping", "dispatcher", "workers", "schedule-workers")


@pytest.fixture(scope="module")
def toxiproxy() -> Iterator[Toxiproxy]:
    with Toxiproxy() as server:
        yield server


@pytest.fixture
def api_proxy(toxiproxy: Toxiproxy, cluster: Cluster, tmp_path: Path) -> Iterator[Proxy]:
    proxy = toxiproxy.proxy(f"api-{tmp_path.name}", upstream_of(cluster.kubeconfig))
    yield proxy
    proxy.heal()
    toxiproxy.call("DELETE", f"/proxies/{proxy.name}")


def errors(op: OperatorProcess) -> float:
    return sum(op.metric("bgjobs_internal_errors_total", {"loop": loop}) for loop in LOOPS)


async def completed(jobs: Jobs, names: list[str], within: float) -> None:
    async def probe() -> bool:
        done = {
            o["metadata"]["name"]
            for o in await jobs.list()
            if status(o).get("phase") == "Completed"
        }
        return done >= set(names)

    await eventually(probe, within=within, interval=0.5, what=f"{len(names)} jobs Completed")


async def unfinished_attempts(jobs: Jobs) -> int:
    return sum(
        1
        for j in await jobs.batch_jobs()
        if not any(
            c.status == "True" and c.type in ("Complete", "Failed")
            for c in (j.status.conditions or [])
        )
    )


# Supervised loops --------------------------------------------------------------


async def test_an_exception_in_any_loop_is_logged_counted_and_the_loop_restarted(
    run_operator: Run, jobs: Jobs
) -> None:
    faults = ",".join(f"{loop}=2" for loop in LOOPS)
    op = run_operator(env={"BGJOBS_FAULTS": faults})
    await jobs.create(bgjob("after-faults", fake={"run-for": "100ms"}))

    await completed(jobs, ["after-faults"], within=60)
    for loop in LOOPS:
        assert op.metric("bgjobs_internal_errors_total", {"loop": loop}) >= 2, loop
        assert f"loop {loop} failed; restarting it" in op.log()
    assert "InjectedFault: fault injected into loop dispatcher" in op.log()  # the traceback
    code, detail = await asyncio.to_thread(op.probe, "/healthz")
    assert (code, detail["dead"]) == (200, [])


async def test_a_loop_that_keeps_failing_fails_liveness(run_operator: Run) -> None:
    op = run_operator(
        env={"BGJOBS_FAULTS": "dispatcher=-1", "BGJOBS_UNHEALTHY_AFTER": "3"},
        ready=(SERVING_LINE,),
    )

    async def dead() -> dict[str, Any] | None:
        code, detail = await asyncio.to_thread(op.probe, "/healthz")
        return detail if code == 503 else None

    detail = await eventually(dead, within=30, what="/healthz to fail")
    assert detail["dead"] == ["dispatcher"]
    assert "InjectedFault" in detail["failing"]["dispatcher"]["error"]
    assert op.proc is not None
    assert op.proc.poll() is None, "liveness decides, not a crash"


# Registry first ------------------------------------------------------------------


@pytest.mark.timeout(240)
async def test_no_job_is_judged_before_the_registry_loads_and_caps_hold_after(
    run_operator: Run, jobs: Jobs, api: ApiClient, namespace: str
) -> None:
    doc = registry(maxConcurrentJobs=2)
    core = client.CoreV1Api(api)
    cm = {"metadata": {"name": "reg"}, "data": {"registry.yaml": yaml.safe_dump(doc)}}
    await core.create_namespaced_config_map(namespace, cm)
    first = run_operator(registry_configmap=f"{namespace}/reg")
    for name in ("long-0", "long-1"):
        await jobs.create(bgjob(name, fake={"run-for": "40s"}))
    for name in ("long-0", "long-1"):
        await jobs.wait(name, "Running")
    first.kill()
    await core.delete_namespaced_config_map("reg", namespace)

    op = run_operator(registry_configmap=f"{namespace}/reg", ready=(SERVING_LINE,))
    names = [f"later-{i}" for i in range(6)]
    for name in names:
        await jobs.create(bgjob(name, fake={"run-for": "1s"}))

    # 20 s without a registry: not ready, nothing judged, nothing started.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        code, detail = await asyncio.to_thread(op.probe, "/readyz")
        assert (code, detail["waiting_for"]) == (503, ["registry"])
        reasons = {status(o).get("reason") for o in await jobs.list()}
        assert "UnknownType" not in reasons
        assert await unfinished_attempts(jobs) <= 2
        await asyncio.sleep(0.5)

    await core.create_namespaced_config_map(namespace, cm)
    samples: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(await unfinished_attempts(jobs))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    try:
        await completed(jobs, ["long-0", "long-1", *names], within=120)
    finally:
        done.set()
        await sampler
    code, _ = await asyncio.to_thread(op.probe, "/readyz")
    print(f"{len(samples)} samples, max running {max(samples)}")
    assert code == 200
    assert max(samples) == 2, "the cap was never reached: test too weak"
    assert len(await jobs.batch_jobs()) == 8  # one attempt each


# API server faults ------------------------------------------------------------------


@pytest.mark.timeout(420)
async def test_jobs_complete_after_api_server_faults_at_start_and_mid_run(
    run_operator: Run, jobs: Jobs, api_proxy: Proxy, cluster: Cluster, tmp_path: Path
) -> None:
    """Connections reset for 30 s at start, then a 30 s stall mid-run; 100 jobs."""
    kubeconfig = kubeconfig_through(cluster.kubeconfig, api_proxy, tmp_path / "via-proxy")
    names = [f"job-{i:03d}" for i in range(100)]
    for name in names[:50]:
        await jobs.create(bgjob(name, fake={"run-for": "200ms"}))

    api_proxy.reset()
    t0 = time.monotonic()
    op = run_operator(
        registry(maxConcurrentJobs=10),
        kubeconfig=kubeconfig,
        extra_args=["--api-timeout", "10"],
        ready=(SERVING_LINE,),
    )
    await eventually(
        lambda: asyncio.to_thread(errors, op), within=60, what="a loop to fail on the API"
    )
    await eventually(lambda: _after(t0, 30), within=40, what="30 s of resets")
    api_proxy.heal()
    healed = time.monotonic()
    await completed(jobs, names[:50], within=120)
    print(f"start fault: 50 jobs completed {time.monotonic() - healed:.1f}s after it ended")

    for name in names[50:]:
        await jobs.create(bgjob(name, fake={"run-for": "200ms"}))
    await eventually(
        lambda: _some_completed(jobs, names[50:]), within=60, what="the second half to start"
    )
    api_proxy.stall()
    stalled = time.monotonic()
    await eventually(lambda: _after(stalled, 30), within=40, what="30 s of stall")
    api_proxy.heal()
    healed = time.monotonic()
    await completed(jobs, names, within=180)
    print(f"mid-run stall: all 100 completed {time.monotonic() - healed:.1f}s after it ended")

    assert op.starts == 1
    assert op.proc is not None
    assert op.proc.poll() is None
    assert errors(op) >= 1
    assert len(await jobs.batch_jobs()) == 100  # one attempt per job: none ran twice


async def _after(t0: float, seconds: float) -> bool:
    return time.monotonic() - t0 >= seconds


async def _some_completed(jobs: Jobs, names: list[str]) -> bool:
    return any(
        status(o).get("phase") == "Completed"
        for o in await jobs.list()
        if o["metadata"]["name"] in names
    )


# Leadership ---------------------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_a_leader_cut_off_from_the_api_server_stops_before_another_leads(
    run_operator: Run,
    jobs: Jobs,
    api_proxy: Proxy,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
) -> None:
    lease = ["--leader-elect", f"{namespace}/bgjobs-leader"]
    reg = registry(maxConcurrentJobs=3)
    kubeconfig = kubeconfig_through(cluster.kubeconfig, api_proxy, tmp_path / "via-proxy")
    first = run_operator(reg, kubeconfig=kubeconfig, extra_args=lease)
    await eventually(
        lambda: _true(first.metric("bgjobs_leading") == 1), within=30, what="the first to lead"
    )
    second = run_operator(reg, extra_args=lease)
    names = [f"job-{i:02d}" for i in range(40)]
    for name in names:
        await jobs.create(bgjob(name, fake={"run-for": "1s"}))
    await eventually(lambda: _some_completed(jobs, names), within=60, what="work to flow")

    samples: list[tuple[int, int, int]] = []  # (leading first, leading second, running)
    done = asyncio.Event()

    def leading(op: OperatorProcess) -> int:
        try:
            return int(op.metric("bgjobs_leading"))
        except OSError:  # it exited: it leads nothing
            return 0

    async def sample() -> None:
        while not done.is_set():
            a, b = await asyncio.gather(
                asyncio.to_thread(leading, first), asyncio.to_thread(leading, second)
            )
            samples.append((a, b, await unfinished_attempts(jobs)))
            await asyncio.sleep(0.2)

    sampler = asyncio.create_task(sample())
    try:
        api_proxy.cut()
        cut = time.monotonic()
        await eventually(lambda: _true(leading(second) == 1), within=40, what="the standby to lead")
        print(f"the standby leads {time.monotonic() - cut:.1f}s after the cut")
        await eventually(lambda: _after(cut, 30), within=40, what="30 s of cut")
        api_proxy.heal()
        await completed(jobs, names, within=180)
    finally:
        done.set()
        await sampler

    both = [s for s in samples if s[0] and s[1]]
    print(f"{len(samples)} samples every 200 ms; max running {max(s[2] for s in samples)}")
    assert not both, f"two replicas led at once in {len(both)} samples"
    assert any(s[0] for s in samples), "the first never led while sampled"
    assert any(s[1] for s in samples), "no hand-over seen"
    assert max(s[2] for s in samples) <= 3
    assert "lost Lease" in first.log()
    assert "not renewed within the renew deadline" in first.log()
    assert len(await jobs.batch_jobs()) == len(names)  # one attempt per job: none ran twice


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def kube(cluster: Cluster) -> AsyncIterator[Kube]:
    k = await Kube.connect(str(cluster.kubeconfig))
    yield k
    await k.close()


async def test_clock_skew_does_not_move_leadership(kube: Kube, namespace: str) -> None:
    """The leader's clock is 20 s behind: its renewTime looks stale, yet a standby
    waits for the Lease to stop changing, as observed on its own clock."""
    timing = Timing(lease_duration=3, renew_deadline=2, retry_period=0.5)
    behind = LeaderElector(
        kube.api,
        namespace,
        "skew",
        me="behind",
        timing=timing,
        clock=lambda: datetime.now(UTC) - timedelta(seconds=20),
    )
    standby = LeaderElector(kube.api, namespace, "skew", me="standby", timing=timing)
    await behind.acquire()
    renewing = asyncio.create_task(behind.keep_leading())

    deadline = time.monotonic() + 8  # more than two lease durations
    tries = 0
    while time.monotonic() < deadline:
        assert not await standby.try_acquire_or_renew(), "took a Lease that was being renewed"
        tries += 1
        await asyncio.sleep(timing.retry_period)
    assert tries >= 10
    assert standby.holder == "behind"

    renewing.cancel()  # the leader dies without releasing
    stopped = time.monotonic()
    await asyncio.wait_for(standby.acquire(), 10)
    waited = time.monotonic() - stopped
    print(f"the standby took the Lease {waited:.1f}s after the last renewal")
    assert waited >= timing.lease_duration - timing.retry_period
