"""Async access to the dispatch state in Redis, one atomic Lua script per step."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files
from typing import Any

from redis.asyncio import Redis, RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import RedisClusterException, RedisError

from bgjobs.vocabulary import DEFAULT_REDIS_PREFIX, Keys

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


AnyRedis = Redis | RedisCluster
"""A single Redis (standalone or Sentinel's master) or a Redis Cluster."""

#: What a call to Redis may raise when Redis cannot answer: a cluster client
#: with no node answering raises RedisClusterException, not a RedisError.
REDIS_ERRORS = (RedisError, RedisClusterException)

RETYPE = "retype:"


class RedisQueue:
    """The dispatch index. ``redis`` is passed in; nothing connects here."""

    def __init__(self, redis: AnyRedis, prefix: str = DEFAULT_REDIS_PREFIX) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self._scripts: dict[str, AsyncScript] = {
            name: redis.register_script(
                files("bgjobs.queue").joinpath(f"lua/{name}.lua").read_text()
            )
            for name in SCRIPTS
        }

    async def _run(self, name: str, keys: list[str], *args: Any) -> Any:
        """Run a script given every key it touches (all in one cluster slot)."""
        return await self._scripts[name](keys=keys, args=list(args))

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
        k = self.keys
        due_ms = _ms(due) if due else 0
        fixed = [k.running, k.type_of, k.priority_of, k.score_of, k.delayed, k.types]
        args = [member, job_type, priority, repr(score), due_ms, _ms(now)]

        def run(other: str) -> Awaitable[Any]:
            keys = [*fixed, k.ready(job_type), k.ready(other)]
            return self._run("enqueue", keys, *args, other)

        return _text(await self._knowing_its_type(member, job_type, run))

    async def promote(self, now: datetime, limit: int = 1000) -> int:
        """Move due delayed members to their ready queues."""
        k = self.keys
        due = [
            _text(m)
            for m in await self.redis.zrangebyscore(k.delayed, "-inf", _ms(now), start=0, num=limit)
        ]
        if not due:
            return 0
        types = [None if t is None else _text(t) for t in await self.redis.hmget(k.type_of, due)]
        keys = [k.delayed, k.type_of, k.score_of, k.types]
        index: dict[str, int] = {}
        args: list[Any] = [_ms(now)]
        for member, job_type in zip(due, types, strict=True):
            if job_type is not None and job_type not in index:
                keys.append(k.ready(job_type))
                index[job_type] = len(keys)
            args += [member, job_type or "", index.get(job_type or "", 0)]
        return int(await self._run("promote", keys, *args))

    async def dispatch(
        self, *, max_concurrent: int, caps: Mapping[str, int], now: datetime, limit: int = 100
    ) -> list[Dispatched]:
        """Take ready members while capacity allows; each holds a slot until forgotten."""
        k = self.keys
        keys = [k.running, k.types, k.dispatched_at]
        pairs: list[Any] = []
        for job_type, cap in caps.items():
            keys += [k.ready(job_type), k.running_of(job_type)]
            pairs += [job_type, cap]
        raw = await self._run("dispatch", keys, max_concurrent, _ms(now), limit, *pairs)
        items = [r.decode() if isinstance(r, bytes) else r for r in raw]
        return [Dispatched(items[i], items[i + 1]) for i in range(0, len(items), 2)]

    async def hold(self, member: str, job_type: str, priority: str) -> None:
        k = self.keys
        keys = [k.ready(job_type), k.delayed, k.running, k.running_of(job_type), k.type_of]
        await self._run("hold", [*keys, k.priority_of], member, job_type, priority)

    async def forget(self, member: str, job_type: str) -> bool:
        """Drop ``member`` everywhere; True if it held a running slot."""
        k = self.keys
        fixed = [k.running, k.type_of, k.priority_of, k.score_of, k.dispatched_at, k.delayed]

        def run(other: str) -> Awaitable[Any]:
            keys = [*fixed, k.ready(job_type), k.running_of(job_type)]
            keys += [k.ready(other), k.running_of(other)]
            return self._run("forget", keys, member, job_type, other)

        return bool(await self._knowing_its_type(member, job_type, run))

    @staticmethod
    async def _knowing_its_type(
        member: str, job_type: str, run: Callable[[str], Awaitable[Any]]
    ) -> Any:
        """Run a script that also needs the keys of the type Redis knows
        ``member`` by: ``run(other)`` first assumes ``job_type``; an answer
        ``retype:<t>`` (nothing changed) names the type to give instead."""
        other = job_type
        for _ in range(3):  # the type changes under us rarely, if ever
            result = await run(other)
            if not isinstance(result, (bytes, str)) or not _text(result).startswith(RETYPE):
                return result
            other = _text(result).removeprefix(RETYPE)
        raise RuntimeError(f"{member}: its type in Redis keeps changing")

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

    async def ping(self) -> None:
        """Reach the node that holds the index (in a cluster: not just any node)."""
        await self.redis.exists(self.keys.epoch)

    async def epoch(self) -> str | None:
        """The mark of the last rebuild (None: Redis lost its data)."""
        raw = await self.redis.get(self.keys.epoch)
        return None if raw is None else _text(raw)

    async def stats(self) -> dict[tuple[str, str, str], int]:
        """(state, type, priority) → count, state in ready/delayed/running."""
        k = self.keys
        types = sorted(_text(t) for t in await self.redis.smembers(k.types))
        keys = [k.delayed, k.running, k.type_of, k.priority_of] + [k.ready(t) for t in types]
        raw = await self._run("stats", keys)
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
        """Delete every key of the index, and the index of earlier builds if there is one."""
        await self._delete_matching(self.keys.base + "*")
        p = self.keys.prefix
        if await self.redis.exists(p + "epoch"):
            # Earlier builds: keys without the hash tag, one hash per member.
            for pattern in (p + "ready:*", p + "running:*", p + "meta:*"):
                await self._delete_matching(pattern)
            for name in ("types", "delayed", "running", "expiry", "config", "epoch"):
                await self.redis.delete(p + name)

    async def _delete_matching(self, pattern: str) -> None:
        batch: list[Any] = []
        async for key in self.redis.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                await self._delete(batch)
                batch = []
        await self._delete(batch)

    async def _delete(self, keys: list[Any]) -> None:
        # One DEL per key: in a cluster, the old layout's keys are spread over slots.
        if not keys:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.delete(key)
            await pipe.execute()

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
            if running:
                pipe.hmget(self.keys.dispatched_at, running)
            got = await pipe.execute()
        ready = got[: len(all_types)]
        dispatched_at = got[len(all_types)] if running else []
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

        The index starts empty, so no script is needed: each batch of entries
        becomes a few multi-member writes (one per key), sent in one round trip.
        """
        await self.clear()
        count = 0
        chunk: list[QueueEntry] = []
        for entry in entries:
            chunk.append(entry)
            count += 1
            if len(chunk) >= batch:
                await self._write(chunk, now)
                chunk = []
        await self._write(chunk, now)
        await self.redis.set(self.keys.epoch, epoch)
        return count

    async def _write(self, chunk: list[QueueEntry], now: datetime) -> None:
        k = self.keys
        hashes: dict[str, dict[Any, str]] = defaultdict(dict)  # key → member → value
        zsets: dict[str, dict[str, float]] = defaultdict(dict)
        sets: dict[str, set[str]] = defaultdict(set)
        for e in chunk:
            m = e.member
            if e.state in ("running", "queued"):
                hashes[k.type_of][m] = e.job_type
                hashes[k.priority_of][m] = e.priority
            if e.state == "running":
                sets[k.running].add(m)
                sets[k.running_of(e.job_type)].add(m)
            elif e.state == "queued":
                hashes[k.score_of][m] = repr(e.score)
                if e.due is not None and e.due > now:
                    zsets[k.delayed][m] = _ms(e.due)
                else:
                    zsets[k.ready(e.job_type)][m] = e.score
                    sets[k.types].add(e.job_type)
            if e.expires is not None:
                zsets[k.expiry][m] = _ms(e.expires)
        if not (hashes or zsets or sets):
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, fields in hashes.items():
                pipe.hset(key, mapping=fields)
            for key, scores in zsets.items():
                pipe.zadd(key, scores)
            for key, members in sets.items():
                pipe.sadd(key, *members)
            await pipe.execute()
