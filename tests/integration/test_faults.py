"""The operator heals itself: supervised loops, timeouts, fenced leadership, registry first.

Faults are real: Toxiproxy between the operator and the API server (reset
connections, a stall, a cut), a test hook that raises inside a loop, a
registry ConfigMap that is not there yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import yaml
from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from bgjobs.k8s import Kube
from bgjobs.k8s.lease import LeaderElector, Timing
from bgjobs.queue import Keys
from bgjobs.runtime.resync import MESSAGES
from tests.support.api_proxy import ApiProxy
from tests.support.bgjobs import Jobs, bgjob, registry, status
from tests.support.cluster import Cluster
from tests.support.operator import SERVING_LINE, OperatorProcess
from tests.support.poll import eventually
from tests.support.redis_cluster import RedisClusterServers
from tests.support.sentinel import MASTER, SentinelGroup
from tests.support.toxiproxy import Proxy, Toxiproxy, kubeconfig_through, upstream_of

Run = Callable[..., OperatorProcess]
pytestmark = pytest.mark.usefixtures("fake_pods")

LOOPS = ("registry", "redis-ping", "dispatcher", "resync", "workers", "schedule-workers")


@pytest.fixture(scope="module")
def toxiproxy() -> Iterator[Toxiproxy]:
    with Toxiproxy() as server:
        yield server


@pytest.fixture
def toxic_api(toxiproxy: Toxiproxy, cluster: Cluster, tmp_path: Path) -> Iterator[Proxy]:
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


@contextlib.asynccontextmanager
async def running_attempts(
    jobs: Jobs, *, every: float, prefix: str = ""
) -> AsyncIterator[list[int]]:
    """Sample the number of unfinished attempt Jobs (named ``prefix``...) every ``every`` s."""
    samples: list[int] = []
    done = asyncio.Event()

    async def sample() -> None:
        while not done.is_set():
            samples.append(await unfinished_attempts(jobs, prefix))
            await asyncio.sleep(every)

    sampler = asyncio.create_task(sample())
    try:
        yield samples
    finally:
        done.set()
        await sampler


async def unfinished_attempts(jobs: Jobs, prefix: str = "") -> int:
    return sum(
        1
        for j in await jobs.batch_jobs()
        if j.metadata.name.startswith(prefix)
        and not any(
            c.status == "True" and c.type in ("Complete", "Failed")
            for c in (j.status.conditions or [])
        )
    )


# Supervised loops --------------------------------------------------------------


async def test_an_exception_in_any_loop_is_logged_counted_and_the_loop_restarted(
    run_operator: Run, jobs: Jobs
) -> None:
    faults = ",".join(f"{loop}=2" for loop in LOOPS)
    op = run_operator(env={"BGJOBS_FAULTS": faults, "BGJOBS_UNHEALTHY_AFTER": "1"})
    await jobs.create(bgjob("after-faults", fake={"run-for": "100ms"}))

    await completed(jobs, ["after-faults"], within=60)
    for loop in LOOPS:
        assert op.metric("bgjobs_internal_errors_total", {"loop": loop}) >= 2, loop
        assert f"loop {loop} failed; restarting it" in op.log()
    assert "InjectedFault: fault injected into loop dispatcher" in op.log()  # the traceback

    async def all_healthy() -> dict[str, Any] | None:
        code, detail = await asyncio.to_thread(op.probe, "/healthz")
        return detail if code == 200 and detail["failing"] == {} else None

    # Every loop, the idle ones included, counts as healthy again once it runs.
    await eventually(all_healthy, within=30, what="every loop healthy again")


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
    await core.create_namespaced_config_map(namespace, cm)  # type: ignore[arg-type]  # a dict is sent as is
    first = run_operator(registry_configmap=f"{namespace}/reg")
    for name in ("long-0", "long-1"):
        await jobs.create(bgjob(name, fake={"hang": True}))
    for name in ("long-0", "long-1"):
        await jobs.wait(name, "Running")
    first.kill()
    await core.delete_namespaced_config_map("reg", namespace)

    op = run_operator(registry_configmap=f"{namespace}/reg", ready=(SERVING_LINE,))
    names = [f"later-{i}" for i in range(6)]
    for name in names:
        await jobs.create(bgjob(name, fake={"run-for": "1s"}))

    async def waiting_for_registry() -> bool:
        code, detail = await asyncio.to_thread(op.probe, "/readyz")
        return code == 503 and detail["waiting_for"] == ["registry"]

    await eventually(waiting_for_registry, within=30, what="/readyz to wait for the registry")
    # 20 s without a registry: not ready, nothing judged, nothing started.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert await waiting_for_registry()
        reasons = {status(o).get("reason") for o in await jobs.list()}
        assert "UnknownType" not in reasons
        assert len(await jobs.batch_jobs()) == 2
        await asyncio.sleep(0.5)

    await core.create_namespaced_config_map(namespace, cm)  # type: ignore[arg-type]  # a dict is sent as is
    await eventually(
        lambda: _true("rebuilt the Redis index" in op.log()), within=30, what="the rebuild"
    )
    # The two Running jobs hold both slots: nothing else starts.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert len(await jobs.batch_jobs()) == 2
        await asyncio.sleep(0.25)
    for name in ("long-0", "long-1"):
        await jobs.patch(name, {"spec": {"cancel": True}})

    async with running_attempts(jobs, every=0.1, prefix="later-") as samples:
        await completed(jobs, names, within=120)
    code, _ = await asyncio.to_thread(op.probe, "/readyz")
    print(f"{len(samples)} samples, max running {max(samples)}")
    assert code == 200
    assert max(samples) <= 2
    assert max(samples) == 2, "the cap was never reached: test too weak"
    assert len(await jobs.batch_jobs()) == 6  # one attempt each; the cancelled ones deleted


# API server faults ------------------------------------------------------------------


@pytest.mark.timeout(420)
async def test_jobs_complete_after_api_server_faults_at_start_and_mid_run(
    run_operator: Run, jobs: Jobs, toxic_api: Proxy, cluster: Cluster, tmp_path: Path
) -> None:
    """Connections reset for 30 s at start, then a 30 s stall mid-run; 100 jobs."""
    kubeconfig = kubeconfig_through(cluster.kubeconfig, toxic_api, tmp_path / "via-proxy")
    op = await _two_outages(
        jobs,
        lambda: run_operator(
            registry(maxConcurrentJobs=10),
            kubeconfig=kubeconfig,
            extra_args=["--api-timeout", "10"],
            # A short grace: liveness would fail within the faults if they counted.
            env={"BGJOBS_UNHEALTHY_AFTER": "5"},
            ready=(SERVING_LINE,),
        ),
        at_start=("resets", toxic_api.reset),
        mid_run=("stall", toxic_api.stall),
        heal=toxic_api.heal,
    )
    assert errors(op) >= 1


@pytest.mark.timeout(420)
async def test_jobs_complete_after_the_api_server_answers_503_at_start_and_mid_run(
    run_operator: Run, jobs: Jobs, cluster: Cluster, tmp_path: Path
) -> None:
    """The API server answers 503 for 30 s at start, then for 30 s mid-run; 100 jobs."""
    async with ApiProxy(cluster.kubeconfig) as proxy:
        kubeconfig = proxy.kubeconfig(tmp_path / "via-503-proxy")
        await _two_outages(
            jobs,
            lambda: run_operator(
                registry(maxConcurrentJobs=10),
                kubeconfig=kubeconfig,
                env={"BGJOBS_UNHEALTHY_AFTER": "5"},
                ready=(SERVING_LINE,),
            ),
            at_start=("503", proxy.start_outage),
            mid_run=("503", proxy.start_outage),
            heal=proxy.end_outage,
        )
        print(f"{proxy.refused} requests answered 503")
        assert proxy.refused > 0


async def _two_outages(
    jobs: Jobs,
    start_operator: Callable[[], OperatorProcess],
    *,
    at_start: tuple[str, Callable[[], None]],
    mid_run: tuple[str, Callable[[], None]],
    heal: Callable[[], None],
) -> OperatorProcess:
    """100 jobs through a 30 s outage from the operator's start and one mid-run:
    every job completes once, without a restart, and liveness never fails."""
    names = [f"job-{i:03d}" for i in range(100)]
    for name in names[:50]:
        await jobs.create(bgjob(name, fake={"run-for": "200ms"}))
    at_start[1]()
    t0 = time.monotonic()
    op = start_operator()
    liveness: list[int] = []  # sampled through both faults: never failing
    sampling = asyncio.create_task(_sample_liveness(op, liveness))
    await eventually(lambda: _after(t0, 30), within=40, what=f"30 s of {at_start[0]}")
    heal()
    healed = time.monotonic()
    await completed(jobs, names[:50], within=150)
    print(f"{at_start[0]} at start: 50 jobs completed {time.monotonic() - healed:.1f}s after")

    for name in names[50:]:
        await jobs.create(bgjob(name, fake={"run-for": "200ms"}))
    await eventually(
        lambda: _some_completed(jobs, names[50:]), within=60, what="the second half to start"
    )
    mid_run[1]()
    began = time.monotonic()
    await eventually(lambda: _after(began, 30), within=40, what=f"30 s of {mid_run[0]}")
    heal()
    healed = time.monotonic()
    await completed(jobs, names, within=180)
    print(f"{mid_run[0]} mid-run: all 100 completed {time.monotonic() - healed:.1f}s after")
    sampling.cancel()
    print(f"/healthz sampled {len(liveness)} times during the faults: {sorted(set(liveness))}")

    assert set(liveness) == {200}, "an API server outage must not fail liveness"
    assert op.starts == 1
    assert op.proc is not None
    assert op.proc.poll() is None
    assert len(await jobs.batch_jobs()) == 100  # one attempt per job: none ran twice
    return op


async def _sample_liveness(op: OperatorProcess, into: list[int]) -> None:
    while True:
        try:
            code, _ = await asyncio.to_thread(op.probe, "/healthz")
        except OSError:
            code = -1  # not answering at all
        into.append(code)
        await asyncio.sleep(1)


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
@pytest.mark.parametrize("leader_clock", [0, -20], ids=["clocks-agree", "leader-20s-behind"])
async def test_a_leader_cut_off_from_the_api_server_stops_before_another_leads(
    run_operator: Run,
    jobs: Jobs,
    toxic_api: Proxy,
    cluster: Cluster,
    namespace: str,
    tmp_path: Path,
    leader_clock: int,
) -> None:
    """With the leader's clock 20 s behind, the renewTime it writes looks stale
    to the standby from the start: the standby must still wait its turn."""
    lease = ["--leader-elect", f"{namespace}/bgjobs-leader"]
    reg = registry(maxConcurrentJobs=3)
    kubeconfig = kubeconfig_through(cluster.kubeconfig, toxic_api, tmp_path / "via-proxy")
    first = run_operator(
        reg,
        kubeconfig=kubeconfig,
        extra_args=lease,
        env={"BGJOBS_CLOCK_OFFSET": str(leader_clock)},
    )
    await eventually(
        lambda: _true(first.metric("bgjobs_leading") == 1), within=30, what="the first to lead"
    )
    held = await client.CoordinationV1Api(jobs.api).read_namespaced_lease(
        "bgjobs-leader", namespace
    )
    behind = (datetime.now(UTC) - held.spec.renew_time).total_seconds()
    assert behind == pytest.approx(-leader_clock, abs=5), "the fake clock did not take"
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
        toxic_api.cut()
        cut = time.monotonic()
        await eventually(lambda: _true(leading(second) == 1), within=40, what="the standby to lead")
        print(f"the standby leads {time.monotonic() - cut:.1f}s after the cut")
        await eventually(lambda: _after(cut, 30), within=40, what="30 s of cut")
        toxic_api.heal()
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


# Exact cancel, leftover Jobs --------------------------------------------------------------


class AdmissionPolicy:
    """A ValidatingAdmissionPolicy and its binding, for one namespace: the API
    server refuses the writes to ``resource`` that fail ``expression``."""

    def __init__(
        self, api: ApiClient, namespace: str, *, name: str, rule: dict[str, Any], expression: str
    ) -> None:
        self.adm = client.AdmissionregistrationV1Api(api)
        self.name = f"{name}-{namespace}"[:63]
        self.policy = {
            "metadata": {"name": self.name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [rule]},
                "validations": [{"expression": expression, "message": f"test policy: {name}"}],
            },
        }
        self.binding = {
            "metadata": {"name": self.name},
            "spec": {
                "policyName": self.name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        }
        self.active = False

    async def add(self) -> None:
        await self.adm.create_validating_admission_policy(self.policy)  # type: ignore[arg-type]  # a dict is sent as is
        await self.adm.create_validating_admission_policy_binding(self.binding)  # type: ignore[arg-type]  # a dict is sent as is
        self.active = True

    async def remove(self) -> None:
        if self.active:
            self.active = False
            await self.adm.delete_validating_admission_policy_binding(self.name)
            await self.adm.delete_validating_admission_policy(self.name)


@pytest.fixture
async def refuse_running(api: ApiClient, namespace: str) -> AsyncIterator[Callable[[], Any]]:
    """The API server refuses status writes that set ``Running`` in this test's
    namespace. Yields the function that removes the policy."""
    policy = AdmissionPolicy(
        api,
        namespace,
        name="refuse-running",
        rule={
            "apiGroups": ["bgjobs.io"],
            "apiVersions": ["*"],
            "operations": ["UPDATE"],
            "resources": ["backgroundjobs/status"],
        },
        expression="!has(object.status) || !has(object.status.phase)"
        " || object.status.phase != 'Running'",
    )
    await policy.add()
    yield policy.remove
    await policy.remove()


async def _running_refused(jobs: Jobs) -> bool:
    """Probe the policy on a throw-away object (the API server loads it in a moment)."""
    try:
        await jobs.custom.patch_namespaced_custom_object_status(
            "bgjobs.io",
            "v1alpha1",
            jobs.namespace,
            "backgroundjobs",
            "policy-probe",
            {"status": {"phase": "Running"}},
            _content_type="application/merge-patch+json",  # type: ignore[call-arg]
        )
    except client.ApiException as exc:
        return "test policy: refuse-running" in str(exc.body)
    return False


async def test_cancel_during_dispatch_leaves_no_attempt_running(
    run_operator: Run, jobs: Jobs, refuse_running: Callable[[], Any]
) -> None:
    await jobs.create(bgjob("policy-probe", "not-registered"))
    await eventually(lambda: _running_refused(jobs), within=30, what="the policy to apply")
    await jobs.custom.delete_namespaced_custom_object(
        "bgjobs.io", "v1alpha1", jobs.namespace, "backgroundjobs", "policy-probe"
    )
    op = run_operator()
    await jobs.create(bgjob("refused", fake={"hang": True}))
    # Dispatched: its Job exists, but Running cannot be written.
    await eventually(
        lambda: jobs.batch_jobs("refused"), within=30, what="the attempt's Job to be created"
    )
    await eventually(
        lambda: _true("test policy: refuse-running" in op.log()),
        within=30,
        what="the refused write",
    )
    assert status(await jobs.get("refused") or {}).get("phase") != "Running"

    await jobs.patch("refused", {"spec": {"cancel": True}})
    await jobs.wait("refused", "Cancelled", within=60)
    await refuse_running()

    async def no_attempt_left() -> bool:
        return not await jobs.batch_jobs("refused") and not await _pods(jobs, "refused-a1")

    await eventually(no_attempt_left, within=30, what="the attempt's Job and pod to be gone")
    assert status(await jobs.get("refused") or {})["phase"] == "Cancelled"


async def _pods(jobs: Jobs, job_name: str) -> list[Any]:
    got = await client.CoreV1Api(jobs.api).list_namespaced_pod(
        jobs.namespace, label_selector=f"batch.kubernetes.io/job-name={job_name}"
    )
    return list(got.items)


async def test_a_leftover_job_of_an_earlier_object_is_deleted_and_reported(
    run_operator: Run, jobs: Jobs
) -> None:
    run_operator()
    await jobs.create(bgjob("again", fake={"hang": True}))
    await jobs.wait("again", "Running")
    # Slow garbage collection: a finalizer keeps the old attempt's Job around.
    hold = {"metadata": {"finalizers": ["test.bgjobs.io/hold"]}}
    await jobs.batch.patch_namespaced_job("again-a1", jobs.namespace, hold)
    await jobs.custom.delete_namespaced_custom_object(
        "bgjobs.io", "v1alpha1", jobs.namespace, "backgroundjobs", "again"
    )
    await eventually(lambda: _gone(jobs, "again"), within=30, what="the first object gone")
    await jobs.create(bgjob("again", fake={"run-for": "100ms"}))

    async def reported() -> list[Any]:
        return [e for e in await jobs.events("again") if e.reason == "StaleAttemptJob"]

    events = await eventually(reported, within=30, what="a StaleAttemptJob event")
    assert "belonged to an earlier BackgroundJob named again" in events[0].message
    old = await jobs.batch.read_namespaced_job("again-a1", jobs.namespace)
    assert old.metadata.deletion_timestamp is not None, "the leftover is being deleted"

    await jobs.batch.patch_namespaced_job(
        "again-a1", jobs.namespace, {"metadata": {"finalizers": None}}
    )
    done = await jobs.wait("again", "Completed", within=60)
    assert status(done)["attempts"][0]["jobName"] == "again-a1"


async def _gone(jobs: Jobs, name: str) -> bool:
    return await jobs.get(name) is None


# Redis drift ------------------------------------------------------------------------------


async def test_resync_frees_ghost_slots_and_queues_a_lost_entry_again(
    run_operator: Run, jobs: Jobs, redis: aioredis.Redis, namespace: str
) -> None:
    period = 20.0  # long enough to set the drift up before the first pass
    op = run_operator(registry(maxConcurrentJobs=2), extra_args=["--resync-period", str(period)])
    keys = Keys(op.prefix)
    for key in (keys.running, keys.running_of("work")):  # two ghosts fill the cap of 2
        await redis.sadd(key, "gone/ghost-1", "gone/ghost-2")
    for name in ("first", "second"):
        await jobs.create(bgjob(name, fake={"run-for": "100ms"}))

    async def both_queued() -> bool:
        scores = [
            await redis.zscore(keys.ready("work"), f"{namespace}/{n}") for n in ("first", "second")
        ]
        return all(s is not None for s in scores)

    await eventually(both_queued, within=30, what="both jobs queued behind the ghosts")
    await redis.zrem(keys.ready("work"), f"{namespace}/second")  # a lost write
    injected = time.monotonic()
    kinds = ("ghost-running", "missing-entry")
    assert all(op.metric("bgjobs_redis_repairs_total", {"kind": k}) == 0 for k in kinds), (
        "a resync ran before the drift was set up: the test proves nothing"
    )

    await completed(jobs, ["first", "second"], within=period + 10)
    print(f"both completed {time.monotonic() - injected:.1f}s after the drift")
    assert op.metric("bgjobs_redis_repairs_total", {"kind": "ghost-running"}) == 2
    assert op.metric("bgjobs_redis_repairs_total", {"kind": "missing-entry"}) == 1
    assert not await redis.sismember(keys.running, "gone/ghost-1")
    reasons = [e.reason for e in await jobs.events("second")]
    assert "QueueRepaired" in reasons
    assert op.starts == 1


# Redis Sentinel ---------------------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_jobs_flow_on_through_a_sentinel_failover(run_operator: Run, jobs: Jobs) -> None:
    """200 jobs, the primary SIGKILLed mid-flow: all complete, none twice, caps held."""
    cap = 5
    with SentinelGroup() as group:
        sentinel_args = [a for addr in group.addresses for a in ("--redis-sentinel", addr)]
        op = run_operator(
            registry(maxConcurrentJobs=cap),
            redis_url="redis://ignored:6379/0",  # the sentinels say where the master is
            extra_args=[*sentinel_args, "--redis-sentinel-master", MASTER, "--resync-period", "10"],
        )
        first_master = group.master_port()
        names = [f"job-{i:03d}" for i in range(200)]
        for name in names:
            await jobs.create(bgjob(name, fake={"run-for": "200ms"}))

        async with running_attempts(jobs, every=0.2) as samples:
            await eventually(
                lambda: _count_completed(jobs, names, at_least=40), within=120, what="40 done"
            )
            group.primary.kill()
            killed = time.monotonic()
            await eventually(
                lambda: _true(group.master_port() not in (None, first_master)),
                within=60,
                what="the sentinels to fail over",
            )
            print(f"failover: a new master {time.monotonic() - killed:.1f}s after the kill")
            await completed(jobs, names, within=240)
            print(f"all 200 completed {time.monotonic() - killed:.1f}s after the kill")
        repairs = sum(op.metric("bgjobs_redis_repairs_total", {"kind": kind}) for kind in MESSAGES)
        print(f"{len(samples)} samples, max running {max(samples)}; {repairs:.0f} repairs")
        assert max(samples) <= cap
        assert max(samples) == cap, "the cap was never reached: test too weak"
        assert len(await jobs.batch_jobs()) == len(names)  # one attempt each: none twice
        assert op.starts == 1


async def _count_completed(jobs: Jobs, names: list[str], *, at_least: int) -> bool:
    wanted = set(names)
    done = [
        o
        for o in await jobs.list()
        if o["metadata"]["name"] in wanted and status(o).get("phase") == "Completed"
    ]
    return len(done) >= at_least


# Redis Cluster ----------------------------------------------------------------------------


@pytest.mark.timeout(300)
async def test_jobs_flow_through_a_redis_cluster(run_operator: Run, jobs: Jobs) -> None:
    """Three primaries; the operator starts from one without the index's slot.

    Two types under caps, a retry (a delayed entry promoted back) and a
    resync every 5 s: every job completes once and the caps hold.
    """
    cap = 4
    with RedisClusterServers() as servers:
        probe_keys = Keys("bgjobs-test:probe:")
        holder_port = servers.node_for(probe_keys.running).port
        other = next(n for n in servers.nodes if n.port != holder_port)
        op = run_operator(
            registry({"work": {}, "report": {"concurrency": 1}}, maxConcurrentJobs=cap),
            redis_url=other.url,
            extra_args=["--redis-cluster", "--resync-period", "5"],
            env={"BGJOBS_UNHEALTHY_AFTER": "5"},
        )
        keys = Keys(op.prefix)
        holder = servers.node_for(keys.running)
        names = [f"job-{i:02d}" for i in range(32)] + [f"rep-{i}" for i in range(8)]
        for name in names:
            job_type = "report" if name.startswith("rep-") else "work"
            await jobs.create(bgjob(name, job_type, fake={"run-for": "300ms"}))
        policy = {"maxRetries": 1, "initialDelay": "1s"}
        await jobs.create(bgjob("flaky", fake={"exit-code": "1,0"}, retryPolicy=policy))

        async with (
            running_attempts(jobs, every=0.2) as samples,
            running_attempts(jobs, every=0.2, prefix="rep-") as reports,
        ):
            await completed(jobs, [*names, "flaky"], within=180)

        async with aioredis.Redis(port=holder.port) as conn:
            slot = await conn.execute_command("CLUSTER", "KEYSLOT", keys.running)  # type: ignore[no-untyped-call]
            in_slot = await conn.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)  # type: ignore[no-untyped-call]
        print(f"{len(samples)} samples, max running {max(samples)}; {in_slot} keys in slot {slot}")
        assert max(samples) <= cap
        assert max(samples) == cap, "the cap was never reached: test too weak"
        assert max(reports) == 1  # the type's cap
        assert status(await jobs.get("flaky") or {})["retryCount"] == 1
        assert len(await jobs.batch_jobs()) == len(names) + 2  # one attempt each, two for flaky
        assert in_slot >= 1  # the index lives in the cluster (its epoch at least)
        assert errors(op) == 0  # no script refused for a key outside its slot

        # The primary with the index's slot SIGKILLed: the cluster is down.
        # Three times the liveness budget: waiting out a dead Redis must not fail it.
        liveness: list[int] = []
        sampling = asyncio.create_task(_sample_liveness(op, liveness))
        holder.kill()
        down = time.monotonic()
        later = [f"late-{i}" for i in range(10)]
        for name in later:
            await jobs.create(bgjob(name, fake={"run-for": "100ms"}))
        await eventually(lambda: _after(down, 15), within=25, what="15 s of a cluster down")
        assert op.metric("bgjobs_redis_up") == 0
        holder.start(port=holder.port)  # empty (no persistence), its slots kept
        back = time.monotonic()
        await completed(jobs, later, within=90)
        sampling.cancel()
        print(
            f"the 10 jobs created while the cluster was down completed "
            f"{time.monotonic() - back:.1f}s after its node came back; "
            f"/healthz {len(liveness)} samples: {sorted(set(liveness))}"
        )
        assert set(liveness) == {200}
        assert len(await jobs.batch_jobs()) == len(names) + 2 + len(later)
        assert op.starts == 1


# Events -----------------------------------------------------------------------------------


async def test_a_failing_dispatch_loop_counts_on_one_event(
    run_operator: Run, jobs: Jobs, api: ApiClient, namespace: str
) -> None:
    """Job creation refused (an admission policy): the retry every 10 s raises
    the count of one DispatchFailed Event instead of posting one each time."""
    policy = AdmissionPolicy(
        api,
        namespace,
        name="refuse-jobs",
        rule={
            "apiGroups": ["batch"],
            "apiVersions": ["v1"],
            "operations": ["CREATE"],
            "resources": ["jobs"],
        },
        expression="false",
    )
    await policy.add()
    try:

        async def enforced() -> bool:  # the API server loads a new policy in a moment
            try:
                await jobs.batch.create_namespaced_job(
                    namespace,
                    {"metadata": {"name": "probe"}, "spec": {"template": {"spec": {  # type: ignore[arg-type]  # a dict is sent as is
                        "restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}},
                )  # fmt: skip
            except client.ApiException as exc:
                return "test policy: refuse-jobs" in str(exc.body)
            await jobs.batch.delete_namespaced_job("probe", namespace)
            return False

        await eventually(enforced, within=30, what="the policy enforced")
        run_operator()
        await jobs.create(bgjob("blocked", fake={"run-for": "100ms"}))

        async def counted() -> list[Any] | None:
            failed = [e for e in await jobs.events("blocked") if e.reason == "DispatchFailed"]
            return failed if failed and max(e.count or 1 for e in failed) >= 4 else None

        failed = await eventually(counted, within=90, what="a DispatchFailed count of 4")
        print(f"{len(failed)} DispatchFailed Event(s), count {failed[0].count}")
        assert len(failed) == 1
        assert "test policy: refuse-jobs" in failed[0].message
    finally:
        await policy.remove()
    obj = await jobs.wait("blocked", "Completed", within=60)
    assert len(status(obj)["attempts"]) == 1
