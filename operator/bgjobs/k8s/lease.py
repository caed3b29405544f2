"""Leader election with a coordination.k8s.io/v1 Lease, for several operator replicas.

Only the holder of the Lease runs the work queue and the dispatcher; the
others wait (watch events still reach them, so a new leader starts warm).
A leader that cannot renew in time exits, and Kubernetes restarts it as a
standby: two replicas are never active at once for longer than the renew
deadline, and deterministic names make that overlap harmless anyway.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

log = logging.getLogger(__name__)

LEASE_SECONDS = 15
RENEW_EVERY = 5.0


def identity() -> str:
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}-{os.getpid()}"


def _fmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        *,
        me: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.coord = client.CoordinationV1Api(api)
        self.namespace, self.name = namespace, name
        self.me = me or identity()
        self.clock = clock
        self.leading = False

    def _spec(self, now: datetime, transitions: int, acquired: datetime) -> dict[str, Any]:
        return {
            "holderIdentity": self.me,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": _fmt(acquired),
            "renewTime": _fmt(now),
            "leaseTransitions": transitions,
        }

    async def try_acquire(self) -> bool:
        """One attempt to take or renew the Lease; True while this process leads."""
        now = self.clock()
        try:
            lease = await self.coord.read_namespaced_lease(self.name, self.namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            body = {"metadata": {"name": self.name}, "spec": self._spec(now, 0, now)}
            try:
                await self.coord.create_namespaced_lease(self.namespace, body)  # type: ignore[arg-type]
                return True
            except ApiException as create_exc:
                if create_exc.status == 409:
                    return False
                raise
        spec = lease.spec
        holder = spec.holder_identity
        renewed = spec.renew_time or spec.acquire_time
        duration = timedelta(seconds=spec.lease_duration_seconds or LEASE_SECONDS)
        expired = not holder or renewed is None or now > renewed + duration
        if holder != self.me and not expired:
            return False
        transitions = (spec.lease_transitions or 0) + (0 if holder == self.me else 1)
        acquired = spec.acquire_time if holder == self.me and spec.acquire_time else now
        lease_body = {
            "metadata": {
                "name": self.name,
                "resourceVersion": lease.metadata.resource_version,
            },
            "spec": self._spec(now, transitions, acquired),
        }
        try:
            await self.coord.replace_namespaced_lease(
                self.name,
                self.namespace,
                lease_body,  # type: ignore[arg-type]
            )
        except ApiException as exc:
            if exc.status == 409:  # someone else renewed or took it first
                return False
            raise
        return True

    async def _held_by_other(self) -> bool:
        try:
            lease = await self.coord.read_namespaced_lease(self.name, self.namespace)
        except ApiException:
            return False
        return bool(lease.spec.holder_identity) and lease.spec.holder_identity != self.me

    async def release(self) -> None:
        """Give the Lease up on a clean stop, so a standby takes over at once."""
        if not self.leading:
            return
        try:
            lease = await self.coord.read_namespaced_lease(self.name, self.namespace)
            if lease.spec.holder_identity == self.me:
                body = {
                    "metadata": {
                        "name": self.name,
                        "resourceVersion": lease.metadata.resource_version,
                    },
                    "spec": {
                        "holderIdentity": None,
                        "leaseDurationSeconds": LEASE_SECONDS,
                        "leaseTransitions": lease.spec.lease_transitions or 0,
                    },
                }
                await self.coord.replace_namespaced_lease(
                    self.name,
                    self.namespace,
                    body,  # type: ignore[arg-type]
                )
        except ApiException as exc:
            log.warning("releasing the Lease: %s", exc.reason)
        self.leading = False

    async def wait_for_leadership(self) -> None:
        while True:
            try:
                if await self.try_acquire():
                    self.leading = True
                    log.info(
                        "leading: holding Lease %s/%s as %s", self.namespace, self.name, self.me
                    )
                    return
            except ApiException as exc:
                log.warning("leader election: %s", exc.reason)
            await asyncio.sleep(RENEW_EVERY / 2)

    async def keep_leading(self, on_lost: Callable[[], None]) -> None:
        """Renew until that fails for longer than the lease; then call ``on_lost``."""
        last_ok = self.clock()
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                ok = await self.try_acquire()
            except ApiException as exc:
                log.warning(
                    "renewing Lease %s/%s failed: %s", self.namespace, self.name, exc.reason
                )
                ok = False
            now = self.clock()
            if ok:
                last_ok = now
                continue
            taken = await self._held_by_other()
            if taken or (now - last_ok).total_seconds() >= LEASE_SECONDS - RENEW_EVERY:
                log.error(
                    "lost the Lease %s/%s: stopping so that another replica leads",
                    self.namespace,
                    self.name,
                )
                self.leading = False
                on_lost()
                return
