"""Assemble the running operator from settings: clients, registry, queue, loops.

Every long-running loop runs under :func:`~bgjobs.runtime.health.supervise`,
except the leader election: with ``--leader-elect`` the work (workers,
dispatcher, resync, schedules) starts only once this replica holds the Lease,
and is fenced (stopped at once) when the Lease cannot be renewed in time or
the election fails; the process then exits and Kubernetes starts it again as
a standby.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import start_http_server
from redis.asyncio import Redis, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from bgjobs import API_GROUP, metrics
from bgjobs.k8s import Kube
from bgjobs.k8s.informer import Informer
from bgjobs.k8s.lease import LeaderElector, Timing, wall_clock
from bgjobs.models.backgroundjob import PLURAL
from bgjobs.models.jobschedule import KIND as SCHEDULE_KIND
from bgjobs.queue import RedisQueue
from bgjobs.queue.redis_queue import REDIS_ERRORS, AnyRedis, QueueEntry
from bgjobs.runtime.dispatcher import Dispatcher
from bgjobs.runtime.health import Health, serve, supervise
from bgjobs.runtime.reconciler import Reconciler, utcnow
from bgjobs.runtime.registry_source import (
    ConfigMapRegistry,
    FileRegistry,
    RegistrySource,
)
from bgjobs.runtime.resync import Resync
from bgjobs.runtime.rwlock import RWLock
from bgjobs.runtime.schedules import Children, ScheduleReconciler, Timers
from bgjobs.runtime.slim import Summary, expand, keep_bgjob
from bgjobs.runtime.workqueue import FETCH, GONE, Body, Key, WorkQueue
from bgjobs.settings import Settings

log = logging.getLogger(__name__)

REDIS_PING_EVERY = 5.0


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}:{parts.port or 6379}"


def connect_redis(settings: Settings) -> AnyRedis:
    """A client of the Redis master: at ``redis_url``, found through Sentinel,
    or of the Redis Cluster that ``redis_url`` is a node of."""
    timeouts: dict[str, Any] = {
        "socket_connect_timeout": min(5.0, settings.redis_timeout),
        "socket_timeout": settings.redis_timeout,
    }
    sentinels = settings.sentinel_addresses()
    if settings.redis_cluster:
        log.info("Redis: a cluster, starting from %s", _without_password(settings.redis_url))
        return RedisCluster.from_url(
            settings.redis_url,
            password=settings.redis_password,
            health_check_interval=15,
            **timeouts,
        )
    if not sentinels:
        return Redis.from_url(
            settings.redis_url,
            password=settings.redis_password,
            health_check_interval=15,
            **timeouts,
        )
    db = int(urlsplit(settings.redis_url).path.strip("/") or 0)
    asking = {**timeouts, "password": settings.redis_sentinel_password}
    sentinel = Sentinel(sentinels, sentinel_kwargs=asking, **timeouts)  # type: ignore[no-untyped-call]
    log.info(
        "Redis: master %r through sentinels %s",
        settings.redis_sentinel_master,
        ", ".join(settings.redis_sentinels),
    )
    master: Redis = sentinel.master_for(
        settings.redis_sentinel_master,
        password=settings.redis_password,
        db=db,
        health_check_interval=15,
    )
    return master


async def cached_pages(
    kube: Kube, work: WorkQueue, informers: list[Informer], size: int = 500
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every BackgroundJob as the watches last delivered it, a page at a time,
    once every watch has listed. A job whose body was dropped (to be read again
    after a failed reconcile) is read from the API server."""
    await asyncio.gather(*(informer.synced.wait() for informer in informers))
    keys = [key for informer in informers for key in informer.known]
    reads = asyncio.Semaphore(16)

    async def body_of(key: Key) -> Body:
        body = work.cached(key)
        if body is not FETCH:
            return body
        async with reads:  # dropped after a failed reconcile: read again
            return await kube.get_bgjob(*key) or GONE

    for start in range(0, len(keys), size):
        chunk = keys[start : start + size]
        bodies = [work.cached(key) for key in chunk]
        if any(b is FETCH for b in bodies):
            bodies = list(await asyncio.gather(*(body_of(key) for key in chunk)))
        yield [b for b in bodies if isinstance(b, dict)]
        await asyncio.sleep(0)  # reconciles run between pages


@dataclass
class Runtime:
    settings: Settings
    kube: Kube
    redis: AnyRedis
    queue: RedisQueue
    registry: RegistrySource
    reconciler: Reconciler
    work: WorkQueue
    dispatcher: Dispatcher
    resync: Resync
    lock: RWLock
    schedules: WorkQueue
    schedule_reconciler: ScheduleReconciler
    timers: Timers
    children: Children
    health: Health
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    work_tasks: list[asyncio.Task[None]] = field(default_factory=list)
    elector: LeaderElector | None = None
    health_server: web.AppRunner | None = None
    working: bool = False  # this replica dispatches (leads, or runs alone)
    admitting: set[asyncio.Task[None]] = field(default_factory=set)

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        kube = await Kube.connect(settings.kubeconfig, request_timeout=settings.api_timeout)
        redis = connect_redis(settings)
        queue = RedisQueue(redis, prefix=settings.redis_prefix)
        registry: RegistrySource
        if settings.registry_file:
            registry = FileRegistry(settings.registry_file)
        else:
            assert settings.registry_configmap, "Settings.check() requires a registry"
            ns, _, name = settings.registry_configmap.partition("/")
            registry = ConfigMapRegistry(kube, ns, name)
        health = Health(unhealthy_after=settings.unhealthy_after)
        health.set("registry", False)
        health.set("redis", False)
        lock = RWLock()
        work = WorkQueue(workers=settings.workers, keep=keep_bgjob, expand=expand)

        informers: list[Informer] = []  # made once the runtime exists: they feed it

        def objects() -> AsyncIterator[list[dict[str, Any]]]:
            return cached_pages(kube, work, informers)

        async def rebuild(epoch: str) -> int:
            # From the watches' own cache (a second list of every object would
            # double the start's work), a page at a time, while reconciles go
            # on; only the Redis writes hold reconciles back.
            reconciler.record_touched()
            count = 0
            entries: list[QueueEntry] = []
            try:
                async for page in objects():
                    count += len(page)
                    now = utcnow()
                    entries += [e for e in (reconciler.entry_for(o, now) for o in page) if e]
                async with lock.writing():
                    await queue.rebuild(entries, now=utcnow(), epoch=epoch)
            finally:
                # Reconciled after the list was read: the rebuild wrote an
                # older picture of them; their reconciles write the newer one.
                for key in reconciler.touched():
                    work.add(key)
            return count

        dispatcher = Dispatcher(queue, registry, work, rebuild, utcnow)
        reconciler = Reconciler(
            kube,
            queue,
            registry,
            work,
            clock=utcnow,
            wake_dispatcher=dispatcher.wake,
            transition_events=settings.transition_events,
            phase_labels=settings.phase_labels,
        )

        def on_registry_change(_: object) -> None:
            health.set("registry", True)
            dispatcher.wake()
            for key in list(work.keys()):  # UnknownType jobs may run now, and others change
                work.add(key)

        registry.subscribe(on_registry_change)
        resync = Resync(
            kube,
            queue,
            reconciler,
            work,
            lock,
            ready=lambda: registry.loaded and dispatcher.rebuilt,
            objects=objects,
            period=settings.resync_period,
            clock=utcnow,
        )
        schedules = WorkQueue(workers=2)
        timers = Timers(schedules.add, utcnow)

        async def synced() -> object:
            return await asyncio.gather(*(informer.synced.wait() for informer in informers))

        children = Children(work, synced)
        schedule_reconciler = ScheduleReconciler(kube, schedules, timers, children, utcnow)
        rt = cls(
            settings,
            kube,
            redis,
            queue,
            registry,
            reconciler,
            work,
            dispatcher,
            resync,
            lock,
            schedules,
            schedule_reconciler,
            timers,
            children,
            health,
        )
        rt._count_cached()
        scopes: list[str | None] = list(settings.namespaces) or [None]
        informers += [Informer(kube, PLURAL, namespace, rt.on_bgjob) for namespace in scopes]
        for informer in informers:
            where = f"watch-{informer.namespace}" if informer.namespace else "watch"
            rt._spawn(rt.tasks, where, informer.run)
        if settings.metrics_port:
            start_http_server(settings.metrics_port)
            log.info("metrics on :%d/metrics", settings.metrics_port)
        if settings.health_port:
            rt.health_server = await serve(health, settings.health_port)
        rt._spawn(rt.tasks, "registry", registry.run)
        rt._spawn(rt.tasks, "redis-ping", rt._ping_redis)
        if settings.leader_elect:
            ns, _, name = settings.leader_elect.rpartition("/")
            timing = Timing(settings.lease_duration, settings.renew_deadline, settings.retry_period)
            rt.elector = LeaderElector(
                kube.api, ns or "default", name, timing=timing, clock=wall_clock()
            )
            rt.tasks.append(asyncio.create_task(rt._lead_then_work(), name="bgjobs-leader"))
        else:
            rt._start_work()
        return rt

    def _count_cached(self) -> None:
        """``bgjobs_cached_objects``, counted when scraped."""

        def count(queue: WorkQueue, summaries: bool) -> Callable[[], float]:
            def counted() -> float:
                kind = Summary if summaries else dict
                return sum(1 for kept in queue.kept() if isinstance(kept, kind))

            return counted

        cached = metrics.CACHED
        cached.labels("backgroundjobs", "whole").set_function(count(self.work, False))
        cached.labels("backgroundjobs", "summary").set_function(count(self.work, True))
        cached.labels("jobschedules", "whole").set_function(count(self.schedules, False))
        attempts = self.reconciler.attempt_jobs
        cached.labels("attempt_jobs", "summary").set_function(lambda: len(attempts))

    def _spawn(
        self,
        into: list[asyncio.Task[None]],
        name: str,
        loop: Callable[[Callable[[], None]], Awaitable[None]],
    ) -> None:
        def run() -> Awaitable[None]:
            return loop(lambda: self.health.ok(name))

        into.append(asyncio.create_task(supervise(name, run, self.health), name=f"bgjobs-{name}"))

    async def on_bgjob(self, kind: str, obj: dict[str, Any]) -> None:
        """A BackgroundJob event from its watch (:class:`~bgjobs.k8s.informer.Informer`).

        It only marks the job dirty, with the newest body; a job created now is
        also put in its priority queue at once (:meth:`admit`). Its JobSchedule,
        if any, is told.
        """
        seen_at = time.time()  # the FIFO order within a priority: one stamp for both steps
        meta = obj["metadata"]
        key = (meta["namespace"], meta["name"])
        if kind == "DELETED":
            self.reconciler.deleted(obj)
        elif kind == "GONE":  # a deletion the watch missed: what was known of it
            known = self.work.cached(key)
            obj = known if isinstance(known, dict) else obj
        elif kind == "ADDED" and not self.work.busy(key) and self.health.conditions.get("redis"):
            # In the background: the watch's next events do not wait for Redis.
            task = asyncio.create_task(self.admit(obj, seen_at), name="bgjobs-admit")
            self.admitting.add(task)
            task.add_done_callback(self.admitting.discard)
        gone = kind in ("DELETED", "GONE")
        self.work.add(key, GONE if gone else obj, seen_at=seen_at, listed=kind == "LISTED")
        self.children.seen(kind, obj)
        for ref in obj["metadata"].get("ownerReferences") or []:
            if ref.get("kind") == SCHEDULE_KIND and ref.get("apiVersion", "").startswith(API_GROUP):
                self.schedules.add((key[0], ref["name"]))

    async def _reconcile(self, key: Key, body: Body, seen_at: float) -> None:
        async with self.lock.reading():  # a rebuild's Redis writes wait for it
            await self.reconciler(key, body, seen_at)

    async def admit(self, body: dict[str, Any], seen_at: float) -> None:
        """Queue a job seen for the first time before its reconcile (see
        :meth:`Reconciler.admit`); only where the work runs, after the rebuild."""
        if not self.working or not self.dispatcher.rebuilt:
            return
        try:
            async with self.lock.reading():
                if self.working:  # not fenced meanwhile (the fence waits for this)
                    await self.reconciler.admit(body, seen_at)
        except REDIS_ERRORS as exc:  # its reconcile tries again
            log.debug("admitting %s: %s", body["metadata"]["name"], exc)

    def _start_work(self) -> None:
        self.working = True
        self.work.start(self._reconcile, self.health)
        self.schedules.start(self.schedule_reconciler, self.health, "schedule-workers")
        self._spawn(self.work_tasks, "dispatcher", self.dispatcher.run)
        self._spawn(self.work_tasks, "resync", self.resync.run)
        metrics.LEADING.set(1)

    async def _stop_work(self) -> None:
        """Fence: nothing is dispatched, reconciled or scheduled after this returns."""
        metrics.LEADING.set(0)
        self.working = False
        for task in self.work_tasks:
            task.cancel()
        await asyncio.gather(*self.work_tasks, return_exceptions=True)
        self.work_tasks.clear()
        self.timers.close()
        await self.schedules.stop()
        await self.work.stop()
        # The workers are gone (their locks released): an admission under way
        # (a Redis write of at most one command's deadline) ends before this returns.
        async with self.lock.writing():
            pass

    async def _lead_then_work(self) -> None:
        """Stand by, lead, and when leadership is lost (or this fails): fence, exit."""
        assert self.elector is not None
        try:
            log.info("standing by for %s", self.elector.where)
            await self.elector.acquire()
            self._start_work()
            await self.elector.keep_leading()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.health.failed("leader", exc)
            log.exception("leader election failed; stopping work")
        await self._stop_work()
        # Exit, so that Kubernetes starts this replica again as a standby,
        # with a clean slate (kopf's cleanup runs stop(): nothing is held).
        os.kill(os.getpid(), signal.SIGTERM)

    async def _ping_redis(self, ok: Callable[[], None]) -> None:
        """Readiness needs Redis on every replica, the standbys included."""
        while True:
            try:
                await self.queue.ping()
                up = True
            except REDIS_ERRORS as exc:
                log.debug("Redis ping: %s", exc)
                up = False
            self.health.set("redis", up)
            metrics.REDIS_UP.set(1 if up else 0)
            if up:
                ok()
            await asyncio.sleep(REDIS_PING_EVERY)

    async def stop(self) -> None:
        """Stop electing, then the work, then give up the Lease, then the rest."""
        for task in self.tasks:  # the election first: it could start work, or renew
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self._stop_work()
        if self.elector is not None:
            await self.elector.release()
        if self.health_server is not None:
            await self.health_server.cleanup()
        with contextlib.suppress(RedisError):
            await self.redis.aclose()
        await self.kube.close()
