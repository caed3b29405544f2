"""The Redis dispatch index against a real redis-server, and a real Redis Cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from bgjobs.logic.priority import queue_score
from bgjobs.models.common import Priority
from bgjobs.queue import Keys, RedisQueue
from bgjobs.queue.redis_queue import AnyRedis, QueueEntry
from tests.support.redis_cluster import RedisClusterServers
from tests.support.redis_server import RedisServer

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NO_AGING = timedelta(0)
PREFIX = "t:"


@pytest.fixture(scope="module")
def redis_cluster() -> Iterator[RedisClusterServers]:
    with RedisClusterServers() as servers:
        yield servers


@pytest.fixture(params=["standalone", "cluster"])
async def redis(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[AnyRedis]:
    """An emptied Redis; for the cluster, a client that starts from a node
    without the index's slot (every call must find its way there)."""
    conn: AnyRedis
    if request.param == "standalone":
        conn = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    else:
        servers: RedisClusterServers = request.getfixturevalue("redis_cluster")
        holder = servers.node_for(Keys(PREFIX).running)
        other = next(n for n in servers.nodes if n is not holder)
        conn = aioredis.RedisCluster.from_url(other.url, decode_responses=True)
    await conn.flushall()
    yield conn
    await conn.aclose()


async def put(
    q: RedisQueue, member: str, prio: Priority, at: datetime, job_type: str = "email"
) -> str:
    score = queue_score(prio, at, NO_AGING)
    return await q.enqueue(member, job_type, prio.value, score=score, due=None, now=at)


async def test_dispatch_is_priority_then_fifo(redis: AnyRedis) -> None:
    q = RedisQueue(redis, prefix=PREFIX)
    order = [
        ("n1", Priority.NORMAL),
        ("l1", Priority.LOW),
        ("u1", Priority.URGENT),
        ("n2", Priority.NORMAL),
        ("h1", Priority.HIGH),
        ("u2", Priority.URGENT),
        ("l2", Priority.LOW),
    ]
    for i, (name, prio) in enumerate(order):
        await put(q, f"ns/{name}", prio, T0 + timedelta(milliseconds=i))

    got = await q.dispatch(max_concurrent=0, caps={"email": 0}, now=T0)

    expected = ["u1", "u2", "h1", "n1", "n2", "l1", "l2"]
    assert [d.member for d in got] == [f"ns/{n}" for n in expected]


async def test_global_and_type_caps_hold(redis: AnyRedis) -> None:
    q = RedisQueue(redis, prefix=PREFIX)
    for i in range(5):
        await put(q, f"ns/e{i}", Priority.NORMAL, T0 + timedelta(seconds=i), "email")
        await put(q, f"ns/r{i}", Priority.NORMAL, T0 + timedelta(seconds=i), "report")
    caps = {"email": 2, "report": 0}

    first = await q.dispatch(max_concurrent=3, caps=caps, now=T0)
    assert len(first) == 3
    assert await q.dispatch(max_concurrent=3, caps=caps, now=T0) == []

    # Free one email slot: the global cap now allows one, the email cap too.
    email = next(d for d in first if d.job_type == "email")
    assert await q.forget(email.member, "email")
    more = await q.dispatch(max_concurrent=10, caps=caps, now=T0)
    types = [d.job_type for d in first + more if d.member != email.member]
    assert types.count("email") == 2
    assert await q.running_count("email") == 2


async def test_unregistered_types_are_not_dispatched(redis: AnyRedis) -> None:
    q = RedisQueue(redis, prefix=PREFIX)
    await put(q, "ns/a", Priority.URGENT, T0, "mystery")
    assert await q.dispatch(max_concurrent=0, caps={"email": 0}, now=T0) == []
    got = await q.dispatch(max_concurrent=0, caps={"mystery": 0}, now=T0)
    assert [d.member for d in got] == ["ns/a"]


async def test_delayed_members_wait_for_their_time(redis: AnyRedis) -> None:
    q = RedisQueue(redis, prefix=PREFIX)
    due = T0 + timedelta(seconds=30)
    state = await q.enqueue("ns/d", "email", "Normal", score=1.0, due=due, now=T0)
    assert state == "delayed"
    assert await q.next_wakeup() == due.timestamp() * 1000

    assert await q.promote(T0 + timedelta(seconds=29)) == 0
    assert await q.dispatch(max_concurrent=0, caps={"email": 0}, now=T0) == []
    assert await q.promote(due) == 1
    got = await q.dispatch(max_concurrent=0, caps={"email": 0}, now=due)
    assert [d.member for d in got] == ["ns/d"]


async def test_running_members_are_not_requeued_and_forget_cleans_everything(
    redis: AnyRedis,
) -> None:
    q = RedisQueue(redis, prefix=PREFIX)
    await put(q, "ns/a", Priority.NORMAL, T0)
    await q.dispatch(max_concurrent=0, caps={"email": 0}, now=T0)

    assert await put(q, "ns/a", Priority.NORMAL, T0) == "running"
    assert await q.forget("ns/a", "email") is True
    assert await q.forget("ns/a", "email") is False
    assert [k async for k in redis.scan_iter(match="*")] == []


async def test_aging_lets_a_long_wait_beat_a_higher_priority(redis: AnyRedis) -> None:
    q = RedisQueue(redis, prefix=PREFIX)
    aging = timedelta(minutes=10)
    old_low = queue_score(Priority.LOW, T0, aging)
    new_normal = queue_score(Priority.NORMAL, T0 + timedelta(minutes=11), aging)
    await q.enqueue("ns/low", "email", "Low", score=old_low, due=None, now=T0)
    await q.enqueue("ns/normal", "email", "Normal", score=new_normal, due=None, now=T0)

    got = await q.dispatch(max_concurrent=0, caps={"email": 0}, now=T0)

    assert [d.member for d in got] == ["ns/low", "ns/normal"]


async def test_a_member_that_changed_type_is_queued_and_forgotten_under_its_new_one(
    redis: AnyRedis,
) -> None:
    q = RedisQueue(redis, prefix=PREFIX)
    await put(q, "ns/x", Priority.NORMAL, T0, "email")
    assert await put(q, "ns/x", Priority.NORMAL, T0, "report") == "ready"

    got = await q.dispatch(max_concurrent=0, caps={"email": 0, "report": 0}, now=T0)
    assert [(d.member, d.job_type) for d in got] == [("ns/x", "report")]

    # The caller's idea of the type is stale: the slot is still freed.
    assert await q.forget("ns/x", "email") is True
    assert await q.running_count("report") == 0
    assert [k async for k in redis.scan_iter(match="*")] == []


async def test_promote_moves_each_due_member_to_its_own_type(redis: AnyRedis) -> None:
    q = RedisQueue(redis, prefix=PREFIX)
    due = T0 + timedelta(seconds=5)
    for member, job_type in (("ns/e", "email"), ("ns/r", "report"), ("ns/late", "email")):
        when = due if member != "ns/late" else due + timedelta(hours=1)
        await q.enqueue(member, job_type, "Normal", score=1.0, due=when, now=T0)

    assert await q.promote(due) == 2

    got = await q.dispatch(max_concurrent=0, caps={"email": 0, "report": 0}, now=due)
    assert sorted((d.member, d.job_type) for d in got) == [("ns/e", "email"), ("ns/r", "report")]
    assert await q.stats() == {
        ("delayed", "email", "Normal"): 1,
        ("running", "email", "Normal"): 1,
        ("running", "report", "Normal"): 1,
    }


async def test_rebuild_replaces_the_index_and_stats_count_it(redis: AnyRedis) -> None:
    q = RedisQueue(redis, prefix=PREFIX)
    await put(q, "ns/stale", Priority.NORMAL, T0)
    # The index of an earlier build (no hash tag, a hash per member) goes too.
    await redis.hset(f"{PREFIX}meta:ns/old", "type", "email")
    await redis.zadd(f"{PREFIX}ready:email", {"ns/old": 1.0})
    await redis.set(f"{PREFIX}epoch", "old")
    await redis.set(f"{PREFIX}x:epoch", "another installation's")
    entries = [
        QueueEntry("ns/r", "email", "High", "running"),
        QueueEntry("ns/q1", "email", "Low", "queued", score=2.0),
        QueueEntry("ns/q2", "report", "Low", "queued", score=1.0),
        QueueEntry("ns/later", "email", "Normal", "queued", score=0.0, due=T0 + timedelta(hours=1)),
    ]

    assert await q.rebuild(entries, now=T0, epoch="e1") == 4

    assert await q.epoch() is not None
    assert await q.stats() == {
        ("running", "email", "High"): 1,
        ("ready", "email", "Low"): 1,
        ("ready", "report", "Low"): 1,
        ("delayed", "email", "Normal"): 1,
    }
    got = await q.dispatch(max_concurrent=0, caps={"email": 0, "report": 0}, now=T0)
    assert [d.member for d in got] == ["ns/q2", "ns/q1"]
    assert [k async for k in redis.scan_iter(match=f"{PREFIX}*")] == [f"{PREFIX}x:epoch"]
