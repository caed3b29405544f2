"""Async access to the dispatch state in Redis, one atomic Lua script per step."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

from bgjobs.queue.keys import Keys

SCRIPTS = ("enqueue", "promote", "dispatch", "hold", "forget", "stats")


def _ms(when: datetime) -> float:
    return when.timestamp() * 1000


@dataclass(frozen=True)
class Dispatched:
    member: str
    job_type: str


@dataclass(frozen=True)
class QueueEntry:
    """What a rebuild puts back for one BackgroundJob."""

    member: str
    job_type: str
    priority: str
    state: str  # "queued" | "running"
    score: float = 0.0
    due: datetime | None = None
    expires: datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    """Which members Redis holds where, read in one pass (for a resync)."""

    running: dict[str, float | None]  # member → dispatchedAt (ms), None if unknown
    queued: set[str]  # ready or delayed
    expiring: set[str]


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


class RedisQueue:
    """The dispatch index. ``redis`` is passed in; nothing connects here."""

    def __init__(self, redis: Redis, prefix: str = "bgjobs:") -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(
                files("bgjobs.queue").joinpath(f"lua/{name}.lua").read_text()
            )
            for name in SCRIPTS
        }

    async def _run(self, name: str, *args: Any, client: Any = None) -> Any:
        """Run a script; with a pipeline as ``client`` it is only queued on it."""
        return await self._scripts[name](keys=[], args=[self.keys.prefix, *args], client=client)

    async def enqueue(
        self,
        member: str,
        job_type: str,
        priority: str,
        *,
        score: float,
        due: datetime | None,
        now: datetime,
    ) -> str:
        """Queue ``member``: ``"ready"``, ``"delayed"``, or ``"running"`` (left alone)."""
        due_ms = _ms(due) if due else 0
        result = await self._run(
            "enqueue", member, job_type, priority, repr(score), due_ms, _ms(now)
        )
        return result.decode() if isinstance(result, bytes) else str(result)

    async def promote(self, now: datetime, limit: int = 1000) -> int:
        """Move due delayed members to their ready queues."""
        return int(await self._run("promote", _ms(now), limit))

    async def dispatch(
        self, *, max_concurrent: int, caps: Mapping[str, int], now: datetime, limit: int = 100
    ) -> list[Dispatched]:
        """Take ready members while capacity allows; each holds a slot until forgotten."""
        pairs: list[Any] = []
        for job_type, cap in caps.items():
            pairs += [job_type, cap]
        raw = await self._run("dispatch", max_concurrent, _ms(now), limit, *pairs)
        items = [r.decode() if isinstance(r, bytes) else r for r in raw]
        return [Dispatched(items[i], items[i + 1]) for i in range(0, len(items), 2)]

    async def hold(self, member: str, job_type: str, priority: str) -> None:
        await self._run("hold", member, job_type, priority)

    async def forget(self, member: str, job_type: str) -> bool:
        """Drop ``member`` everywhere; True if it held a running slot."""
        return bool(await self._run("forget", member, job_type))

    async def is_running(self, member: str) -> bool:
        return bool(await self.redis.sismember(self.keys.running, member))

    async def running_count(self, job_type: str | None = None) -> int:
        key = self.keys.running_of(job_type) if job_type else self.keys.running
        return int(await self.redis.scard(key))

    async def schedule_expiry(self, member: str, at: datetime) -> None:
        await self.redis.zadd(self.keys.expiry, {member: _ms(at)})

    async def cancel_expiry(self, member: str) -> None:
        await self.redis.zrem(self.keys.expiry, member)

    async def due_expiries(self, now: datetime, limit: int = 100) -> list[str]:
        raw = await self.redis.zrangebyscore(self.keys.expiry, "-inf", _ms(now), start=0, num=limit)
        return [r.decode() if isinstance(r, bytes) else str(r) for r in raw]

    async def next_wakeup(self) -> float | None:
        """The earliest delayed or expiry time (ms since the epoch), if any."""
        times = []
        for key in (self.keys.delayed, self.keys.expiry):
            head = await self.redis.zrange(key, 0, 0, withscores=True)
            if head:
                times.append(float(head[0][1]))
        return min(times) if times else None

    async def epoch(self) -> str | None:
        """The mark of the last rebuild (None: Redis lost its data)."""
        raw = await self.redis.get(self.keys.epoch)
        return None if raw is None else _text(raw)

    async def stats(self) -> dict[tuple[str, str, str], int]:
        """(state, type, priority) → count, state in ready/delayed/running."""
        raw = await self._run("stats")
        items = [r.decode() if isinstance(r, bytes) else r for r in raw]
        return {
            (str(items[i]), str(items[i + 1]), str(items[i + 2])): int(items[i + 3])
            for i in range(0, len(items), 4)
        }

    async def publish_config(self, max_concurrent: int, caps: Mapping[str, int]) -> None:
        """Record the dispatch limits in force, for tools that report capacity."""
        doc = {"maxConcurrentJobs": max_concurrent, "concurrency": dict(caps)}
        await self.redis.set(self.keys.config, json.dumps(doc, sort_keys=True))

    async def read_config(self) -> dict[str, Any] | None:
        raw = await self.redis.get(self.keys.config)
        if raw is None:
            return None
        out: dict[str, Any] = json.loads(raw)
        return out

    async def clear(self) -> None:
        """Delete every key under the prefix."""
        batch: list[Any] = []
        async for key in self.redis.scan_iter(match=self.keys.prefix + "*", count=500):
            batch.append(key)
            if len(batch) >= 500:
                await self.redis.delete(*batch)
                batch = []
        if batch:
            await self.redis.delete(*batch)

    async def place(self, member: str, types: Iterable[str]) -> tuple[bool, bool]:
        """(holds a slot, is queued) for one member, in one round trip."""
        types = sorted(set(types))
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.sismember(self.keys.running, member)
            pipe.zscore(self.keys.delayed, member)
            for job_type in types:
                pipe.zscore(self.keys.ready(job_type), member)
            running, *scores = await pipe.execute()
        return bool(running), any(score is not None for score in scores)

    async def snapshot(self, types: Iterable[str]) -> Snapshot:
        """Every member's place in Redis, in two pipelined round trips."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.smembers(self.keys.running)
            pipe.zrange(self.keys.delayed, 0, -1)
            pipe.zrange(self.keys.expiry, 0, -1)
            pipe.smembers(self.keys.types)
            running_raw, delayed, expiring, live_types = await pipe.execute()
        running = sorted(_text(m) for m in running_raw)
        all_types = sorted(set(types) | {_text(t) for t in live_types})
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_type in all_types:
                pipe.zrange(self.keys.ready(job_type), 0, -1)
            for member in running:
                pipe.hget(self.keys.meta(member), "dispatchedAt")
            got = await pipe.execute()
        ready, dispatched_at = got[: len(all_types)], got[len(all_types) :]
        queued = {_text(m) for m in delayed}
        for members in ready:
            queued |= {_text(m) for m in members}
        return Snapshot(
            running={
                m: float(_text(at)) if at is not None else None
                for m, at in zip(running, dispatched_at, strict=True)
            },
            queued=queued,
            expiring={_text(m) for m in expiring},
        )

    async def rebuild(
        self, entries: Iterable[QueueEntry], *, now: datetime, epoch: str, batch: int = 1000
    ) -> int:
        """Replace the whole index with ``entries`` (taken from the objects).

        The scripts run in pipelines of ``batch``: one round trip per batch,
        not per object.
        """
        await self.clear()
        count = 0
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            if entry.state == "running":
                await self._run("hold", entry.member, entry.job_type, entry.priority, client=pipe)
            elif entry.state == "queued":
                due_ms = _ms(entry.due) if entry.due else 0
                await self._run(
                    "enqueue",
                    entry.member,
                    entry.job_type,
                    entry.priority,
                    repr(entry.score),
                    due_ms,
                    _ms(now),
                    client=pipe,
                )
            if entry.expires is not None:
                pipe.zadd(self.keys.expiry, {entry.member: _ms(entry.expires)})
            count += 1
            if len(pipe) >= batch:
                await pipe.execute()
        await pipe.execute()
        await self.redis.set(self.keys.epoch, epoch)
        return count
