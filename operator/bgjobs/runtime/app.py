"""Assemble the running operator from settings: clients, registry, queue, loops."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field

from prometheus_client import start_http_server
from redis.asyncio import Redis

from bgjobs.k8s import Kube
from bgjobs.k8s.lease import LeaderElector
from bgjobs.queue import RedisQueue
from bgjobs.runtime.dispatcher import Dispatcher
from bgjobs.runtime.reconciler import Reconciler, utcnow
from bgjobs.runtime.registry_source import (
    ConfigMapRegistry,
    FileRegistry,
    RegistrySource,
)
from bgjobs.runtime.rwlock import RWLock
from bgjobs.runtime.schedules import ScheduleReconciler, Timers
from bgjobs.runtime.workqueue import Key, WorkQueue
from bgjobs.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    kube: Kube
    redis: Redis
    queue: RedisQueue
    registry: RegistrySource
    reconciler: Reconciler
    work: WorkQueue
    dispatcher: Dispatcher
    lock: RWLock
    schedules: WorkQueue
    timers: Timers
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    elector: LeaderElector | None = None

    @classmethod
    async def start(cls, settings: Settings) -> Runtime:
        kube = await Kube.connect(settings.kubeconfig)
        redis = Redis.from_url(
            settings.redis_url,
            password=settings.redis_password,
            socket_connect_timeout=5,
            socket_timeout=10,
            health_check_interval=15,
        )
        queue = RedisQueue(redis, prefix=settings.redis_prefix)
        registry: RegistrySource
        if settings.registry_file:
            registry = FileRegistry(settings.registry_file)
            registry.load()
        elif settings.registry_configmap:
            ns, _, name = settings.registry_configmap.partition("/")
            registry = ConfigMapRegistry(kube, ns, name)
            try:
                await registry.load()
            except Exception as exc:
                log.warning("could not read the registry yet: %s", exc)
        else:
            log.warning("no registry configured (--registry-file or --registry-configmap)")
            registry = RegistrySource()
        lock = RWLock()
        reconciler = Reconciler(kube, queue, registry, clock=utcnow)

        async def handle(key: Key, body: object, seen_at: float) -> None:
            async with lock.reading():
                await reconciler(key, body, seen_at)

        work = WorkQueue(handle, workers=settings.workers)
        reconciler.work = work

        async def rebuild(epoch: str) -> int:
            async with lock.writing():
                now = utcnow()
                objects = await kube.list_bgjobs(settings.namespaces or None)
                entries = [e for e in (reconciler.entry_for(o, now) for o in objects) if e]
                await queue.rebuild(entries, now=now, epoch=epoch)
                return len(objects)

        dispatcher = Dispatcher(queue, registry, work, rebuild, utcnow)
        reconciler.wake_dispatcher = dispatcher.wake

        def on_registry_change(_: object) -> None:
            dispatcher.wake()
            for key in list(work.keys()):  # UnknownType jobs may run now, and others change
                work.add(key)

        registry.subscribe(on_registry_change)
        schedule_reconciler = ScheduleReconciler(kube, utcnow)
        schedules = WorkQueue(schedule_reconciler, workers=2)
        timers = Timers(schedules.add, utcnow)
        schedule_reconciler.work = schedules
        schedule_reconciler.timers = timers
        rt = cls(
            settings,
            kube,
            redis,
            queue,
            registry,
            reconciler,
            work,
            dispatcher,
            lock,
            schedules,
            timers,
        )
        if settings.metrics_port:
            start_http_server(settings.metrics_port)
            log.info("metrics on :%d/metrics", settings.metrics_port)
        rt.tasks = [asyncio.create_task(registry.run(), name="bgjobs-registry")]
        if settings.leader_elect:
            ns, _, name = settings.leader_elect.rpartition("/")
            rt.elector = LeaderElector(kube.api, ns or "default", name)
            rt.tasks.append(asyncio.create_task(rt._lead_then_run(), name="bgjobs-leader"))
        else:
            rt._run_work()
        return rt

    def _run_work(self) -> None:
        self.work.start()
        self.schedules.start()
        self.tasks.append(asyncio.create_task(self.dispatcher.run(), name="bgjobs-dispatcher"))

    async def _lead_then_run(self) -> None:
        assert self.elector is not None
        log.info("standing by for Lease %s/%s", self.elector.namespace, self.elector.name)
        await self.elector.wait_for_leadership()
        self._run_work()
        await self.elector.keep_leading(lambda: os.kill(os.getpid(), signal.SIGTERM))

    async def stop(self) -> None:
        if self.elector is not None:
            await self.elector.release()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.timers.close()
        await self.schedules.stop()
        await self.work.stop()
        await self.redis.aclose()
        await self.kube.close()
