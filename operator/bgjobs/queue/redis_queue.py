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

    async def _run(self, name: str, *args: Any) -> Any:
        return await self._scripts[name](keys=[], args=[self.keys.prefix, *args])

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

    async def has_epoch(self) -> bool:
        return bool(await self.redis.exists(self.keys.epoch))

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

    async def rebuild(self, entries: Iterable[QueueEntry], *, now: datetime, epoch: str) -> int:
        """Replace the whole index with ``entries`` (taken from the objects)."""
        await self.clear()
        count = 0
        for entry in entries:
            if entry.state == "running":
                await self.hold(entry.member, entry.job_type, entry.priority)
            elif entry.state == "queued":
                await self.enqueue(
                    entry.member,
                    entry.job_type,
                    entry.priority,
                    score=entry.score,
                    due=entry.due,
                    now=now,
                )
            if entry.expires is not None:
                await self.schedule_expiry(entry.member, entry.expires)
            count += 1
        await self.redis.set(self.keys.epoch, epoch)
        return count
