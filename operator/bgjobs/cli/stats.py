"""``stats``: queue statistics per type and priority, from the objects and Redis.

The objects say what each job is doing; the operator's Redis (when the plugin
is given its URL) says what the dispatcher holds and how much capacity is
free. Redis being away is a warning, not a failure: the objects still count.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from bgjobs.cli.output import age, dump, priority_level, table
from bgjobs.cli.session import Session, UsageError, namespace
from bgjobs.client import Job
from bgjobs.models.common import parse_time

HEADERS = [
    "TYPE",
    "PRIORITY",
    "QUEUED",
    "DELAYED",
    "RETRYING",
    "RUNNING",
    "DONE(1H)",
    "FAILED(1H)",
    "OLDEST QUEUED",
]


async def cmd_stats(s: Session, a: argparse.Namespace) -> int:
    """queue statistics per type and priority, from the objects and Redis

    kubectl bgjobs stats -A
    BGJOBS_REDIS_URL=redis://127.0.0.1:6379/0 kubectl bgjobs stats -o json
    """
    from bgjobs.vocabulary import check_prefix  # Redis is imported only by this verb

    problem = check_prefix(a.redis_prefix)
    if problem:
        raise UsageError(f"--redis-prefix {a.redis_prefix!r}: {problem}")
    ns = None if a.all_namespaces else namespace(a)
    jobs = (await s.client.list(namespace=ns, all_namespaces=a.all_namespaces)).items
    stats = job_stats(jobs, datetime.now(UTC))
    redis_counts, config = await _redis_stats(a.redis_url, a.redis_prefix, a.redis_cluster)
    rows = []
    for (jtype, prio), counts in sorted(
        stats.items(), key=lambda kv: (kv[0][0], -priority_level(kv[0][1]))
    ):
        row = {"type": jtype, "priority": prio, **counts}
        if redis_counts is not None:
            row["redisReady"] = redis_counts.get(("ready", jtype, prio), 0)
            row["redisDelayed"] = redis_counts.get(("delayed", jtype, prio), 0)
            row["redisRunning"] = redis_counts.get(("running", jtype, prio), 0)
        rows.append(row)
    free = capacity(config, redis_counts)
    if a.output != "table":
        print(dump({"scope": ns or "all namespaces", "rows": rows, "capacity": free}, a.output))
        return 0
    body = [
        [
            r["type"],
            r["priority"],
            r["queued"],
            r["delayed"],
            r["retrying"],
            r["running"],
            r["completedLastHour"],
            r["failedLastHour"],
            age(r["oldestQueued"]) if r["oldestQueued"] else "-",
        ]
        for r in rows
    ]
    print(table(HEADERS, body) if body else "No BackgroundJobs.")
    if free is None:
        print("\ncapacity: unknown (give --redis-url or BGJOBS_REDIS_URL of the operator's Redis)")
    else:
        print()
        cap_rows = [[t, v["limit"] or "-", v["running"], v["free"]] for t, v in free.items()]
        print(table(["CAPACITY", "LIMIT", "RUNNING", "FREE"], cap_rows))
    return 0


def job_stats(jobs: list[Job], now: datetime) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (type, priority): counts by state, finished in the last hour, oldest queued."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    hour_ago = now - timedelta(hours=1)
    for j in jobs:
        key = (j.type, j.priority or "Normal")
        s = out.setdefault(
            key,
            {
                "queued": 0,
                "delayed": 0,
                "retrying": 0,
                "running": 0,
                "completedLastHour": 0,
                "failedLastHour": 0,
                "oldestQueued": None,
            },
        )
        st = j.status
        if j.phase == "Pending" and j.reason == "WaitingForRunAt":
            s["delayed"] += 1
        elif j.phase == "Pending" and j.reason != "UnknownType":
            s["queued"] += 1
            since = st.get("queuedAt") or j.raw["metadata"].get("creationTimestamp")
            if since and (s["oldestQueued"] is None or since < s["oldestQueued"]):
                s["oldestQueued"] = since
        elif j.phase == "Retrying":
            s["retrying"] += 1
        elif j.phase == "Running":
            s["running"] += 1
        finished = parse_time(st.get("completedAt"))
        if finished and finished >= hour_ago:
            if j.phase == "Completed":
                s["completedLastHour"] += 1
            elif j.phase == "Failed":
                s["failedLastHour"] += 1
    return out


async def _redis_stats(
    url: str | None, prefix: str, cluster: bool = False
) -> tuple[dict[tuple[str, str, str], int] | None, dict[str, Any] | None]:
    if not url:
        return None, None
    from redis.asyncio import Redis, RedisCluster

    from bgjobs.queue import RedisQueue
    from bgjobs.queue.redis_queue import REDIS_ERRORS

    connect = RedisCluster.from_url if cluster else Redis.from_url
    redis = connect(
        url, socket_connect_timeout=3, password=os.environ.get("BGJOBS_REDIS_PASSWORD") or None
    )
    try:
        queue = RedisQueue(redis, prefix=prefix)
        return await queue.stats(), await queue.read_config()
    except REDIS_ERRORS as exc:
        print(
            f"warning: Redis at {url} unreachable ({exc}); showing the objects only",
            file=sys.stderr,
        )
        return None, None
    finally:
        await redis.aclose()


def capacity(
    config: dict[str, Any] | None, counts: dict[tuple[str, str, str], int] | None
) -> dict[str, dict[str, int]] | None:
    """Limit, running and free slots, in all and per type (free -1: unlimited); None unknown."""
    if config is None or counts is None:
        return None
    running: Counter[str] = Counter()
    for (state, jtype, _), n in counts.items():
        if state == "running":
            running[jtype] += n
    total = sum(running.values())
    limit = int(config.get("maxConcurrentJobs") or 0)
    out = {
        "(all types)": {
            "limit": limit,
            "running": total,
            "free": max(0, limit - total) if limit else -1,
        }
    }
    for jtype, cap in sorted((config.get("concurrency") or {}).items()):
        cap = int(cap)
        free = max(0, cap - running[jtype]) if cap else -1
        if limit:
            free = min(free, max(0, limit - total)) if free >= 0 else max(0, limit - total)
        out[jtype] = {"limit": cap, "running": running[jtype], "free": free}
    return out
