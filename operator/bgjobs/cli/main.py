"""``kubectl bgjobs`` (the ``kubectl-bgjobs`` console script).

Exit codes a script can rely on:

    0  success
    1  an API or connection error
    2  bad usage (unknown verb, bad flag or payload)
    3  not found
    4  refused: the API server rejected the job, or the action does not apply
       (retry of a job that is not Failed, cancel of a finished job), or forbidden
    5  enqueue --wait: the job ended Failed or Cancelled
    6  enqueue --wait: the wait timed out
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bgjobs import API_GROUP
from bgjobs.cli.output import StatusLine, age, dump, table
from bgjobs.client import (
    AsyncClient,
    BgjobsError,
    Forbidden,
    InvalidJob,
    Job,
    JobFailed,
    NotCancellable,
    NotFound,
    NotRetryable,
    WaitTimeout,
)
from bgjobs.k8s import Kube, KubeError
from bgjobs.logic.cron import ScheduleError, parse_schedule
from bgjobs.models.jobschedule import PLURAL as SCHEDULES

EXIT = {
    NotFound: 3,
    InvalidJob: 4,
    NotRetryable: 4,
    NotCancellable: 4,
    Forbidden: 4,
    JobFailed: 5,
    WaitTimeout: 6,
}
LEVEL = {"urgent": 3, "high": 2, "normal": 1, "low": 0}


class UsageError(Exception):
    pass


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    common.add_argument("--context", help="kubeconfig context")

    parser = argparse.ArgumentParser(
        prog="kubectl bgjobs",
        description="Manage bgjobs BackgroundJobs and JobSchedules.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, help_: str, *examples: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            parents=[common],
            help=help_,
            description=help_,
            epilog=_examples(*examples),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    p = verb(
        "list",
        "list BackgroundJobs",
        "kubectl bgjobs list --phase failed",
        "kubectl bgjobs list -A --type email --sort priority -o wide",
        "kubectl bgjobs list --limit 50   # then --continue TOKEN for the next page",
    )
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--type")
    p.add_argument(
        "--phase",
        choices=["pending", "running", "retrying", "completed", "failed", "cancelled"],
        type=str.lower,
    )
    p.add_argument("--priority", choices=list(LEVEL), type=str.lower)
    p.add_argument("-l", "--selector", help="label selector, e.g. team=growth")
    p.add_argument("--limit", type=int, help="at most this many (prints a continue token)")
    p.add_argument("--continue", dest="continue_token", help="token from a previous --limit")
    p.add_argument("--sort", choices=["created", "priority"], default="created")
    p.add_argument("-o", "--output", choices=["table", "wide", "json", "yaml"], default="table")

    p = verb(
        "get",
        "show one job: spec, status, attempts, result, recent events",
        "kubectl bgjobs get welcome-mail-42",
        "kubectl bgjobs get welcome-mail-42 -o yaml",
    )
    p.add_argument("name")
    p.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text")

    p = verb(
        "enqueue",
        "create a BackgroundJob",
        'kubectl bgjobs enqueue email --payload \'{"to": "ada@example.org"}\' --wait',
        "kubectl bgjobs enqueue analytics --payload @event.json --priority Low --delay 5m",
        "kubectl bgjobs enqueue report --at 2026-12-01T09:00:00Z --retries 5 --timeout 10m",
    )
    p.add_argument("type")
    p.add_argument("--payload", default="{}", help="JSON object, or @file")
    p.add_argument("--priority", choices=["Low", "Normal", "High", "Urgent"])
    when = p.add_mutually_exclusive_group()
    when.add_argument("--delay", help="not before now + this duration (30s, 5m, 1h)")
    when.add_argument("--at", help="not before this RFC 3339 time")
    p.add_argument("--retries", type=int, help="retryPolicy.maxRetries")
    p.add_argument("--timeout", help="per-attempt timeout (duration)")
    p.add_argument("--name", help="job name (default: <type>-<random>)")
    p.add_argument("--wait", action="store_true", help="wait for the outcome, print the result")
    p.add_argument("--wait-timeout", type=float, default=600.0, help="seconds (600)")

    p = verb("retry", "send a Failed job back to the queue", "kubectl bgjobs retry resolve-7")
    p.add_argument("name")
    p = verb("cancel", "cancel a queued, retrying or running job", "kubectl bgjobs cancel big-1")
    p.add_argument("name")
    p = verb(
        "logs",
        "pod logs of the last attempt (or --attempt N)",
        "kubectl bgjobs logs resolve-7",
        "kubectl bgjobs logs resolve-7 --attempt 1",
    )
    p.add_argument("name")
    p.add_argument("--attempt", type=int)
    p.add_argument("--tail", type=int, help="last N lines")

    p = verb(
        "stats",
        "queue statistics per type and priority, from the objects and Redis",
        "kubectl bgjobs stats -A",
        "BGJOBS_REDIS_URL=redis://127.0.0.1:6379/0 kubectl bgjobs stats -o json",
    )
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BGJOBS_REDIS_URL"),
        help="Redis of the operator (BGJOBS_REDIS_URL); without it, no capacity",
    )
    p.add_argument("--redis-prefix", default=os.environ.get("BGJOBS_REDIS_PREFIX", "bgjobs:"))
    p.add_argument(
        "--redis-cluster",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("BGJOBS_REDIS_CLUSTER", "").lower() in ("1", "true", "yes", "on"),
        help="--redis-url is one node of a Redis Cluster (BGJOBS_REDIS_CLUSTER=true)",
    )
    p.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")

    p = verb(
        "schedules",
        "list JobSchedules with their next runs",
        "kubectl bgjobs schedules",
        "kubectl bgjobs schedules -A --next 3",
    )
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--next", type=int, default=1, help="how many next runs to show (1)")
    p.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")

    p = verb("run-now", "run a JobSchedule's job at once", "kubectl bgjobs run-now daily-report")
    p.add_argument("name")
    return parser


# Verbs ------------------------------------------------------------------------------


def _namespace(a: argparse.Namespace) -> str:
    return str(a.namespace or Kube.default_namespace(a.kubeconfig, a.context))


async def cmd_list(c: AsyncClient, a: argparse.Namespace) -> int:
    page = await c.list(
        type=a.type,
        phase=a.phase,
        priority=a.priority,
        labels=a.selector,
        namespace=a.namespace,
        all_namespaces=a.all_namespaces,
        limit=a.limit,
        continue_token=a.continue_token,
    )
    jobs = list(page.items)
    if a.sort == "priority":
        jobs.sort(key=lambda j: (-LEVEL.get(j.priority.lower(), 1), j.created or datetime.min))
    else:
        jobs.sort(key=lambda j: (j.created or datetime.min, j.name))
    if a.output in ("json", "yaml"):
        doc: dict[str, Any] = {"items": [j.raw for j in jobs]}
        if page.continue_token:
            doc["continue"] = page.continue_token
        print(dump(doc, a.output))
        return 0
    headers = ["NAME", "TYPE", "PRIORITY", "PHASE", "RETRIES", "AGE"]
    if a.output == "wide":
        headers += ["REASON", "JOB", "MESSAGE"]
    if a.all_namespaces:
        headers.insert(0, "NAMESPACE")
    rows = []
    for j in jobs:
        row: list[Any] = [
            j.name,
            j.type,
            j.priority,
            j.phase,
            j.retry_count,
            age(j.raw["metadata"].get("creationTimestamp")),
        ]
        if a.output == "wide":
            row += [j.reason, j.status.get("jobName", ""), j.message[:60]]
        if a.all_namespaces:
            row.insert(0, j.namespace)
        rows.append(row)
    if rows:
        print(table(headers, rows))
    else:
        print("No BackgroundJobs found.", file=sys.stderr)
    if page.continue_token:
        print(f"more: add --continue {page.continue_token}", file=sys.stderr)
    return 0


async def cmd_get(c: AsyncClient, kube: Kube, a: argparse.Namespace) -> int:
    job = await c.get(a.name, namespace=a.namespace)
    if a.output != "text":
        print(dump(job.raw, a.output))
        return 0
    st, spec = job.status, job.spec
    lines = [
        f"Name:        {job.namespace}/{job.name}",
        f"Type:        {job.type}",
        f"Priority:    {job.priority or 'Normal'}",
        f"Phase:       {job.phase}" + (f" ({job.reason})" if job.reason else ""),
        f"Message:     {job.message}",
        f"Retries:     {job.retry_count}",
        f"Created:     {job.raw['metadata'].get('creationTimestamp')}",
    ]
    for key, label in (
        ("queuedAt", "Queued"),
        ("startedAt", "Started"),
        ("completedAt", "Finished"),
        ("nextAttemptAt", "Next attempt"),
    ):
        if st.get(key):
            lines.append(f"{label + ':':<13}{st[key]}")
    lines.append("Spec:")
    lines += ["  " + ln for ln in dump(spec, "yaml").splitlines()]
    if job.attempts:
        lines.append("Attempts:")
        rows = [
            [
                a_.get("attempt"),
                a_.get("jobName"),
                a_.get("podName", ""),
                a_.get("exitCode", ""),
                a_.get("reason", ""),
                a_.get("startedAt", ""),
                (a_.get("message") or "")[:50],
            ]
            for a_ in job.attempts
        ]
        hdr = ["#", "JOB", "POD", "EXIT", "REASON", "STARTED", "MESSAGE"]
        lines += ["  " + ln for ln in table(hdr, rows).splitlines()]
    if "result" in st:
        lines.append("Result:")
        lines += ["  " + ln for ln in json.dumps(st["result"], indent=2).splitlines()]
    if job.error:
        lines.append(f"Error:       {job.error}")
    events = await kube.events(job.namespace, job.name)
    if events:
        lines.append("Events:")
        rows = [
            [
                e.get("type", ""),
                e.get("reason", ""),
                age(e.get("lastTimestamp") or e.get("eventTime")),
                e.get("message", ""),
            ]
            for e in events[-10:]
        ]
        lines += [
            "  " + ln for ln in table(["TYPE", "REASON", "AGE", "MESSAGE"], rows).splitlines()
        ]
    print("\n".join(lines))
    return 0


def _payload(text: str) -> dict[str, Any]:
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text = path.read_text()
        except OSError as exc:
            raise UsageError(f"--payload {text}: cannot read {path}: {exc.strerror}") from exc
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--payload: not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise UsageError("--payload: must be a JSON object ({...})")
    return value


async def cmd_enqueue(c: AsyncClient, a: argparse.Namespace) -> int:
    handle = await c.enqueue(
        a.type,
        _payload(a.payload),
        priority=a.priority,
        delay=a.delay,
        run_at=a.at,
        retry_policy={"maxRetries": a.retries} if a.retries is not None else None,
        timeout=a.timeout,
        namespace=a.namespace,
        name=a.name,
    )
    print(
        f"backgroundjob.bgjobs.io/{handle.name} created", file=sys.stderr if a.wait else sys.stdout
    )
    if not a.wait:
        return 0
    status = StatusLine(sys.stderr)
    try:
        result = await c.wait(
            handle.name, namespace=handle.namespace, timeout=a.wait_timeout, on_poll=status.show
        )
    finally:
        status.end()
    print(json.dumps(result, indent=2))
    return 0


async def cmd_retry(c: AsyncClient, a: argparse.Namespace) -> int:
    job = await c.retry(a.name, namespace=a.namespace)
    print(f"backgroundjob.bgjobs.io/{job.name} retried (back to the queue)")
    return 0


async def cmd_cancel(c: AsyncClient, a: argparse.Namespace) -> int:
    job = await c.cancel(a.name, namespace=a.namespace)
    print(f"backgroundjob.bgjobs.io/{job.name} cancel requested")
    return 0


async def cmd_logs(c: AsyncClient, kube: Kube, a: argparse.Namespace) -> int:
    job = await c.get(a.name, namespace=a.namespace)
    attempts = job.attempts
    if not attempts:
        raise NotFound(f"{job.name} has no attempts yet ({job.phase}/{job.reason})")
    chosen = (
        attempts[-1]
        if a.attempt is None
        else next((x for x in attempts if x.get("attempt") == a.attempt), None)
    )
    if chosen is None:
        numbers = ", ".join(str(x.get("attempt")) for x in attempts)
        raise NotFound(f"{job.name} has no attempt {a.attempt} (kept: {numbers})")
    pods = await kube.job_pods(job.namespace, chosen["jobName"])
    if not pods:
        raise NotFound(f"the pod of attempt {chosen['attempt']} ({chosen['jobName']}) is gone")
    pod = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))[-1]
    text = await kube.pod_log(job.namespace, pod["metadata"]["name"], tail=a.tail)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


async def cmd_stats(c: AsyncClient, a: argparse.Namespace) -> int:
    from bgjobs.queue.keys import check_prefix

    problem = check_prefix(a.redis_prefix)
    if problem:
        raise UsageError(f"--redis-prefix {a.redis_prefix!r}: {problem}")
    ns = None if a.all_namespaces else _namespace(a)
    jobs = (await c.list(namespace=ns, all_namespaces=a.all_namespaces)).items
    stats = job_stats(jobs, datetime.now(UTC))
    redis_counts, config = await _redis_stats(a.redis_url, a.redis_prefix, a.redis_cluster)
    rows = []
    for (jtype, prio), s in sorted(
        stats.items(), key=lambda kv: (kv[0][0], -LEVEL.get(kv[0][1].lower(), 1))
    ):
        row = {"type": jtype, "priority": prio, **s}
        if redis_counts is not None:
            row["redisReady"] = redis_counts.get(("ready", jtype, prio), 0)
            row["redisDelayed"] = redis_counts.get(("delayed", jtype, prio), 0)
            row["redisRunning"] = redis_counts.get(("running", jtype, prio), 0)
        rows.append(row)
    capacity = _capacity(config, redis_counts)
    if a.output != "table":
        print(dump({"scope": ns or "all namespaces", "rows": rows, "capacity": capacity}, a.output))
        return 0
    headers = [
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
    print(table(headers, body) if body else "No BackgroundJobs.")
    if capacity is None:
        print("\ncapacity: unknown (give --redis-url or BGJOBS_REDIS_URL of the operator's Redis)")
    else:
        print()
        cap_rows = [[t, v["limit"] or "-", v["running"], v["free"]] for t, v in capacity.items()]
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
        finished = st.get("completedAt")
        if finished and datetime.fromisoformat(finished) >= hour_ago:
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


def _capacity(
    config: dict[str, Any] | None, counts: dict[tuple[str, str, str], int] | None
) -> dict[str, dict[str, int]] | None:
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


async def cmd_schedules(kube: Kube, a: argparse.Namespace) -> int:
    ns = None if a.all_namespaces else _namespace(a)
    page = await kube.list_custom_page(SCHEDULES, ns)
    now = datetime.now(UTC)
    local_tz = datetime.now().astimezone().tzinfo
    rows, docs = [], []
    for s in page.get("items", []):
        spec, st = s.get("spec") or {}, s.get("status") or {}
        nexts: list[datetime] = []
        try:
            sched = parse_schedule(spec.get("schedule", ""), spec.get("timeZone") or "UTC")
            t = now
            if not spec.get("suspend"):
                for _ in range(max(1, a.next)):
                    t = sched.next_after(t)
                    nexts.append(t)
        except ScheduleError as exc:
            sched, problem = None, str(exc)
        else:
            problem = ""
        zone = sched.zone if sched else UTC
        in_zone = [n.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") for n in nexts]
        in_local = [n.astimezone(local_tz).strftime("%Y-%m-%d %H:%M:%S %Z") for n in nexts]
        docs.append(
            {
                "namespace": s["metadata"]["namespace"],
                "name": s["metadata"]["name"],
                "schedule": spec.get("schedule"),
                "timeZone": spec.get("timeZone", "UTC"),
                "suspend": bool(spec.get("suspend")),
                "runCount": st.get("runCount", 0),
                "lastScheduleTime": st.get("lastScheduleTime"),
                "nextRuns": in_zone,
                "nextRunsLocal": in_local,
                "problem": problem,
            }
        )
        row = [
            s["metadata"]["name"],
            spec.get("schedule"),
            spec.get("timeZone", "UTC"),
            str(bool(spec.get("suspend"))).lower(),
            age(st.get("lastScheduleTime")),
            "; ".join(in_zone) or ("suspended" if spec.get("suspend") else problem or "-"),
            "; ".join(in_local) or "-",
            st.get("runCount", 0),
        ]
        if a.all_namespaces:
            row.insert(0, s["metadata"]["namespace"])
        rows.append(row)
    if a.output != "table":
        print(dump({"items": docs}, a.output))
        return 0
    headers = [
        "NAME",
        "SCHEDULE",
        "TIMEZONE",
        "SUSPEND",
        "LAST",
        "NEXT (SCHEDULE TZ)",
        "NEXT (LOCAL)",
        "RUNS",
    ]
    if a.all_namespaces:
        headers.insert(0, "NAMESPACE")
    print(table(headers, rows) if rows else "No JobSchedules found.")
    return 0


async def cmd_run_now(kube: Kube, a: argparse.Namespace) -> int:
    ns = _namespace(a)
    if await kube.get_custom(SCHEDULES, ns, a.name) is None:
        raise NotFound(f"JobSchedule {ns}/{a.name} not found")
    token = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    patch = {"metadata": {"annotations": {f"{API_GROUP}/run-now": token}}}
    await kube.patch_custom(SCHEDULES, ns, a.name, patch)
    print(f"jobschedule.bgjobs.io/{a.name} run requested ({API_GROUP}/run-now={token})")
    return 0


# Entry point ------------------------------------------------------------------------


async def run(a: argparse.Namespace) -> int:
    kube = await Kube.connect(a.kubeconfig, context=a.context)
    client = AsyncClient(a.namespace, kubeconfig=a.kubeconfig, context=a.context, kube=kube)
    try:
        match a.verb:
            case "list":
                return await cmd_list(client, a)
            case "get":
                return await cmd_get(client, kube, a)
            case "enqueue":
                return await cmd_enqueue(client, a)
            case "retry":
                return await cmd_retry(client, a)
            case "cancel":
                return await cmd_cancel(client, a)
            case "logs":
                return await cmd_logs(client, kube, a)
            case "stats":
                return await cmd_stats(client, a)
            case "schedules":
                return await cmd_schedules(kube, a)
            case "run-now":
                return await cmd_run_now(kube, a)
        raise UsageError(f"unknown verb {a.verb}")
    finally:
        await client.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verb:
        parser.print_help()
        return 2
    try:
        return asyncio.run(run(args))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BgjobsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return next((code for kind, code in EXIT.items() if isinstance(exc, kind)), 1)
    except KubeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return {404: 3, 403: 4, 422: 4}.get(exc.status or 0, 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `kubectl bgjobs get x | head`
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115  (silence the flush at exit)
        return 0


if __name__ == "__main__":
    sys.exit(main())
