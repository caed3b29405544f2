"""Leader election with a coordination.k8s.io/v1 Lease, as client-go does it.

Only the holder of the Lease dispatches and schedules; the other replicas
stand by (watch events still reach them, so a new leader starts warm).

- A standby takes the Lease only when its record (holder, renew time,
  transitions) has not changed for ``lease_duration`` *as measured on this
  replica's monotonic clock since it last saw the record change*. The
  holder's ``renewTime`` is never compared with the local clock, so clock
  skew between nodes does not matter.
- The leader renews every ``retry_period``. Any failure counts: a refusal, a
  5xx, a reset connection, a timeout. It stops leading ``renew_deadline``
  after it *sent* its last successful renewal (a request in flight is cut
  then): the API server wrote that renewal after it was sent, and a standby
  waits ``lease_duration`` from when it saw it, so the leader has stopped
  before any standby can take over (``renew_deadline < lease_duration``).
- ``release`` gives the Lease up on a clean stop, after the work has stopped.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes_asyncio import client

from bgjobs.k8s.errors import Conflict, KubeError, NotFound, api_errors

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0


def identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def _fmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _record(spec: Any) -> tuple[object, ...]:
    """What must change for a standby to see the holder as alive."""
    return (
        spec.holder_identity,
        spec.lease_duration_seconds,
        spec.acquire_time,
        spec.renew_time,
        spec.lease_transitions,
    )


#: Test hook: ``BGJOBS_CLOCK_OFFSET=-20`` puts this replica's wall clock, as
#: it writes it into the Lease, 20 s behind (a node whose clock is wrong).
#: Never set in production.
CLOCK_OFFSET_ENV = "BGJOBS_CLOCK_OFFSET"


def wall_clock() -> Callable[[], datetime]:
    """The clock written into the Lease: UTC now, shifted by the test hook if set."""
    offset = timedelta(seconds=float(os.environ.get(CLOCK_OFFSET_ENV) or 0))
    return lambda: datetime.now(UTC) + offset


class LeaderElector:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        *,
        me: str | None = None,
        timing: Timing = Timing(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.coord = client.CoordinationV1Api(api)
        self.namespace, self.name = namespace, name
        self.me = me or identity()
        self.timing = timing
        self.clock = clock  # only written into the Lease, for people to read
        self.monotonic = monotonic  # every decision uses this one
        self.leading = False
        self.holder: str | None = None  # as last observed
        self._observed: tuple[object, ...] | None = None
        self._observed_at = 0.0
        self._renewed_sent = 0.0  # when the last successful acquire/renew was sent

    @property
    def where(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    def _spec(self, transitions: int, acquired: datetime) -> dict[str, Any]:
        return {
            "holderIdentity": self.me,
            "leaseDurationSeconds": max(1, math.ceil(self.timing.lease_duration)),
            "acquireTime": _fmt(acquired),
            "renewTime": _fmt(self.clock()),
            "leaseTransitions": transitions,
        }

    def _observe(self, lease: Any) -> None:
        record = _record(lease.spec)
        if record != self._observed:
            self._observed, self._observed_at = record, self.monotonic()
        self.holder = lease.spec.holder_identity

    async def try_acquire_or_renew(self) -> bool:
        """One attempt to take or renew the Lease; True while this replica holds it.

        Raises :class:`KubeError` when the API server cannot be asked
        (status 0 for a connection failure or a timeout).
        """
        try:
            with api_errors(f"read {self.where}"):
                lease = await self.coord.read_namespaced_lease(self.name, self.namespace)
        except NotFound:
            now = self.clock()
            body = {"metadata": {"name": self.name}, "spec": self._spec(0, now)}
            try:
                with api_errors(f"create {self.where}"):
                    created = await self.coord.create_namespaced_lease(self.namespace, body)  # type: ignore[arg-type]
            except Conflict:
                return False
            self._observe(created)
            return True
        self._observe(lease)
        spec = lease.spec
        mine = spec.holder_identity == self.me
        duration = spec.lease_duration_seconds or self.timing.lease_duration
        if spec.holder_identity and not mine and self.monotonic() < self._observed_at + duration:
            return False  # held, and renewed within the duration as we saw it
        transitions = (spec.lease_transitions or 0) + (0 if mine else 1)
        acquired = spec.acquire_time if mine and spec.acquire_time else self.clock()
        body = {
            "metadata": {"name": self.name, "resourceVersion": lease.metadata.resource_version},
            "spec": self._spec(transitions, acquired),
        }
        try:
            with api_errors(f"renew {self.where}"):
                replaced = await self.coord.replace_namespaced_lease(
                    self.name,
                    self.namespace,
                    body,  # type: ignore[arg-type]  # a dict is sent as is
                )
        except Conflict:  # someone else renewed or took it first
            return False
        self._observe(replaced)
        return True

    async def _attempt(self, budget: float) -> bool:
        """``try_acquire_or_renew`` cut at ``budget`` seconds; any failure is False."""
        sent = self.monotonic()
        try:
            ok = await asyncio.wait_for(self.try_acquire_or_renew(), max(budget, 0.001))
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            log.warning("%s: no answer within %.1fs", self.where, budget)
            return False
        except KubeError as exc:
            log.warning("%s", exc)
            return False
        except Exception:
            log.exception("%s: unexpected failure", self.where)
            return False
        if ok:
            self._renewed_sent = sent
        return ok

    async def acquire(self) -> None:
        """Return once this replica holds the Lease."""
        while True:
            if await self._attempt(self.timing.renew_deadline):
                break
            await asyncio.sleep(self.timing.retry_period)
        self.leading = True
        log.info("leading: holding %s as %s", self.where, self.me)

    async def keep_leading(self) -> str:
        """Renew every retry period until leadership is lost; return why."""
        while True:
            await asyncio.sleep(self.timing.retry_period)
            why = await self._renew()
            if why is not None:
                self.leading = False
                log.error("lost %s: %s; stopping work", self.where, why)
                return why

    async def _renew(self) -> str | None:
        """One renewal, tried again until it succeeds (None) or leadership is lost.

        Lost: nothing sent within the renew deadline of the last successful
        renewal's sending succeeded, or another replica holds the Lease.
        """
        while True:
            left = self._renewed_sent + self.timing.renew_deadline - self.monotonic()
            if left <= 0:
                return f"not renewed within the renew deadline ({self.timing.renew_deadline:g}s)"
            if await self._attempt(left):
                return None
            if self.holder not in (None, self.me):
                return f"{self.holder} holds it now"
            await asyncio.sleep(min(self.timing.retry_period, left))

    async def release(self) -> None:
        """Give the Lease up on a clean stop, so a standby takes over at once."""
        if not self.leading:
            return
        self.leading = False
        try:
            with api_errors(f"read {self.where}"):
                lease = await asyncio.wait_for(
                    self.coord.read_namespaced_lease(self.name, self.namespace),
                    self.timing.renew_deadline,
                )
            if lease.spec.holder_identity != self.me:
                return
            body = {
                "metadata": {"name": self.name, "resourceVersion": lease.metadata.resource_version},
                "spec": {
                    "holderIdentity": None,
                    "leaseDurationSeconds": lease.spec.lease_duration_seconds,
                    "leaseTransitions": lease.spec.lease_transitions or 0,
                },
            }
            with api_errors(f"release {self.where}"):
                await asyncio.wait_for(
                    self.coord.replace_namespaced_lease(self.name, self.namespace, body),  # type: ignore[arg-type]
                    self.timing.renew_deadline,
                )
            log.info("released %s", self.where)
        except (KubeError, TimeoutError) as exc:
            log.warning("releasing %s: %s", self.where, exc)
