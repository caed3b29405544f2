"""Supervised loops, and what the liveness and readiness probes report.

Every long-running task of the operator runs under :func:`supervise`: an
exception that escapes it is counted in ``bgjobs_internal_errors_total{loop}``
and the loop starts again after a backoff. A fault of the API server or Redis
(unreachable, a timeout, a 5xx or 429) is logged in one line; anything else is
a bug, logged with its traceback. A loop is healthy again after a good pass
(:meth:`Health.ok`) or after running :data:`HEALTHY_AFTER` seconds without
failing; one that keeps failing with bugs for ``unhealthy_after`` seconds
makes ``/healthz`` fail, so that Kubernetes restarts the pod (an outage of
the API server or Redis does not: a restart would not help). ``/readyz`` says
whether this replica can do its work: the registry is loaded and Redis
answers (a standby is ready: it can take over at once).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import ClientError, web
from redis.asyncio.sentinel import MasterNotFoundError
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bgjobs import metrics
from bgjobs.k8s import KubeError

log = logging.getLogger(__name__)

#: Test hook: ``BGJOBS_FAULTS="dispatcher=2,registry=-1"`` makes a loop raise
#: at the start of its first N passes (-1: every pass). Never set in production.
FAULTS_ENV = "BGJOBS_FAULTS"
HEALTHY_AFTER = 10.0  # seconds a restarted loop runs without failing to count as healthy


class InjectedFault(RuntimeError):
    """Raised by the test hook of :data:`FAULTS_ENV`."""


def _faults_from_env() -> dict[str, int]:
    faults: dict[str, int] = {}
    for part in os.environ.get(FAULTS_ENV, "").split(","):
        name, _, count = part.strip().partition("=")
        if not name:
            continue
        try:
            faults[name] = int(count or 1)
        except ValueError:
            log.error("%s: ignoring %r (expected loop=count)", FAULTS_ENV, part)
    return faults


#: Redis faults that waiting out may cure (not, say, a script's error).
REDIS_TRANSIENT = (
    RedisConnectionError,
    RedisTimeoutError,
    BusyLoadingError,
    ReadOnlyError,
    MasterNotFoundError,
    ClusterDownError,  # a cluster without a majority, or slots not covered
    TryAgainError,  # keys of one slot being moved between nodes
    RedisClusterException,  # no node of the cluster answers
)


def transient(exc: BaseException) -> bool:
    """A fault of the API server or Redis that waiting out may cure."""
    if isinstance(exc, (*REDIS_TRANSIENT, ConnectionError, TimeoutError, ClientError)):
        return True
    if isinstance(exc, KubeError):
        status = exc.status
        return status in (0, 429) or (isinstance(status, int) and status >= 500)
    return False


@dataclass
class _Loop:
    failures: int = 0  # in a row, since the last good pass
    failing_since: float | None = None  # monotonic time of the first of them
    last_error: str = ""


@dataclass
class Health:
    unhealthy_after: float = 60.0
    clock: Callable[[], float] = time.monotonic
    loops: dict[str, _Loop] = field(default_factory=dict)
    #: Readiness conditions, each True when met: set by the runtime.
    conditions: dict[str, bool] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=_faults_from_env)

    def ok(self, loop: str) -> None:
        """``loop`` finished a good pass: its failures are forgotten."""
        state = self.loops.setdefault(loop, _Loop())
        state.failures, state.failing_since = 0, None

    def failed(self, loop: str, exc: BaseException) -> None:
        """Count a failure; only a bug (not a transient fault) can fail liveness."""
        metrics.INTERNAL_ERRORS.labels(loop).inc()
        if transient(exc):
            return
        state = self.loops.setdefault(loop, _Loop())
        state.failures += 1
        state.last_error = f"{type(exc).__name__}: {exc}"
        if state.failing_since is None:
            state.failing_since = self.clock()

    def check_fault(self, loop: str) -> None:
        """The test hook: raise if a fault is armed for ``loop``."""
        left = self.faults.get(loop, 0)
        if left == 0:
            return
        if left > 0:
            self.faults[loop] = left - 1
        raise InjectedFault(f"fault injected into loop {loop} ({FAULTS_ENV})")

    def set(self, condition: str, met: bool) -> None:
        self.conditions[condition] = met

    def live(self) -> tuple[bool, dict[str, object]]:
        now = self.clock()
        failing: dict[str, object] = {}
        dead: list[str] = []
        for name, state in sorted(self.loops.items()):
            if state.failing_since is None:
                continue
            age = now - state.failing_since
            failing[name] = {
                "failures": state.failures,
                "seconds": round(age, 1),
                "error": state.last_error,
            }
            if age >= self.unhealthy_after:
                dead.append(name)
        return not dead, {"live": not dead, "failing": failing, "dead": dead}

    def ready(self) -> tuple[bool, dict[str, object]]:
        missing = sorted(name for name, met in self.conditions.items() if not met)
        return not missing, {"ready": not missing, "waiting_for": missing}


async def supervise(
    name: str,
    loop: Callable[[], Awaitable[None]],
    health: Health,
    *,
    first_delay: float = 0.5,
    max_delay: float = 30.0,
) -> None:
    """Run ``loop()`` for ever: restart it, with backoff, whenever it raises or returns."""
    delay = first_delay
    while True:
        started = time.monotonic()
        healthy = asyncio.get_running_loop().call_later(HEALTHY_AFTER, health.ok, name)
        try:
            health.check_fault(name)
            await loop()
            raise RuntimeError(f"loop {name} returned; a supervised loop runs for ever")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if time.monotonic() - started >= HEALTHY_AFTER:
                delay = first_delay  # it ran well for a while: start the backoff again
            health.failed(name, exc)
            if transient(exc):
                log.warning("loop %s: %s; restarting it in %.1fs", name, exc, delay)
            else:
                log.exception("loop %s failed; restarting it in %.1fs", name, delay)
        finally:
            healthy.cancel()
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


async def serve(health: Health, port: int, host: str = "0.0.0.0") -> web.AppRunner:
    """Serve ``/healthz`` and ``/readyz`` (JSON; 200 when good, 503 when not)."""

    def respond(result: tuple[bool, dict[str, object]]) -> web.Response:
        good, detail = result
        return web.Response(
            status=200 if good else 503,
            text=json.dumps(detail, sort_keys=True),
            content_type="application/json",
        )

    async def healthz(_: web.Request) -> web.Response:
        return respond(health.live())

    async def readyz(_: web.Request) -> web.Response:
        return respond(health.ready())

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("health on :%d/healthz and /readyz", port)
    return runner
