"""Leader election decisions, against a fake Lease API (the cluster tests use a real one)."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from bgjobs.k8s.lease import LeaderElector, Timing

# Short, yet with a second between the renew deadline and the lease duration:
# room for a loaded machine's scheduling delays.
TIMING = Timing(lease_duration=2, renew_deadline=1, retry_period=0.1)


class FakeLeases:
    """One Lease in memory; ``down`` makes every call fail like a cut connection."""

    def __init__(self) -> None:
        self.spec: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.hang = False

    def _lease(self) -> Any:
        assert self.spec is not None
        spec = SimpleNamespace(
            holder_identity=self.spec.get("holderIdentity"),
            lease_duration_seconds=self.spec.get("leaseDurationSeconds"),
            acquire_time=self.spec.get("acquireTime"),
            renew_time=self.spec.get("renewTime"),
            lease_transitions=self.spec.get("leaseTransitions"),
        )
        return SimpleNamespace(
            spec=spec, metadata=SimpleNamespace(resource_version=str(self.version))
        )

    async def _check(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.down:
            raise ApiException(status=0, reason="connection refused")

    async def read_namespaced_lease(self, name: str, namespace: str) -> Any:
        await self._check()
        if self.spec is None:
            raise ApiException(status=404, reason="NotFound")
        return self._lease()

    async def create_namespaced_lease(self, namespace: str, body: dict[str, Any]) -> Any:
        await self._check()
        if self.spec is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        self.spec, self.version = dict(body["spec"]), 1
        return self._lease()

    async def replace_namespaced_lease(
        self, name: str, namespace: str, body: dict[str, Any]
    ) -> Any:
        await self._check()
        if body["metadata"]["resourceVersion"] != str(self.version):
            raise ApiException(status=409, reason="Conflict")
        self.spec = dict(body["spec"])
        self.version += 1
        return self._lease()


def elector(leases: FakeLeases, me: str) -> LeaderElector:
    e = LeaderElector(SimpleNamespace(), "ns", "lease", me=me, timing=TIMING)  # type: ignore[arg-type]
    e.coord = leases  # type: ignore[assignment]
    return e


async def test_a_leader_that_cannot_renew_stops_within_the_renew_deadline() -> None:
    leases = FakeLeases()
    leader = elector(leases, "a")
    await leader.acquire()
    last_sent = leader._renewed_sent
    leases.down = True
    why = await leader.keep_leading()
    stopped = time.monotonic()
    assert why.startswith("not renewed within the renew deadline")
    assert not leader.leading
    # Before the Lease can be taken: a standby waits the whole lease duration
    # from when it saw the last renewal, which was after it was sent.
    assert last_sent + TIMING.renew_deadline <= stopped < last_sent + TIMING.lease_duration


async def test_a_renewal_that_hangs_is_cut_at_the_renew_deadline() -> None:
    leases = FakeLeases()
    leader = elector(leases, "a")
    await leader.acquire()
    last_sent = leader._renewed_sent
    leases.hang = True  # a half-open connection: no answer, no error
    why = await asyncio.wait_for(leader.keep_leading(), 5)
    assert why.startswith("not renewed within the renew deadline")
    assert time.monotonic() < last_sent + TIMING.lease_duration


async def test_a_standby_waits_a_lease_duration_of_no_change_on_its_own_clock() -> None:
    leases = FakeLeases()
    leader, standby = elector(leases, "a"), elector(leases, "b")
    await leader.acquire()
    seen = time.monotonic()
    assert not await standby.try_acquire_or_renew()  # first sight of the record
    assert not await standby.try_acquire_or_renew()  # unchanged, but too soon
    assert leases.spec is not None
    duration = leases.spec["leaseDurationSeconds"]  # the holder's, whole seconds
    while not await standby.try_acquire_or_renew():
        assert time.monotonic() < seen + duration + 0.5, "never took an abandoned Lease"
    assert time.monotonic() >= seen + duration
    assert leases.spec is not None
    assert (leases.spec["holderIdentity"], leases.spec["leaseTransitions"]) == ("b", 1)


async def test_a_leader_that_sees_another_holder_stops_at_once() -> None:
    leases = FakeLeases()
    leader = elector(leases, "a")
    await leader.acquire()
    assert leases.spec is not None
    leases.spec["holderIdentity"] = "b"  # taken over (e.g. after a long pause)
    leases.version += 1
    assert await leader.keep_leading() == "b holds it now"


async def test_release_empties_the_holder_so_a_standby_takes_over_at_once() -> None:
    leases = FakeLeases()
    leader, standby = elector(leases, "a"), elector(leases, "b")
    await leader.acquire()
    await leader.release()
    assert leases.spec is not None
    assert leases.spec["holderIdentity"] is None
    assert await standby.try_acquire_or_renew()
