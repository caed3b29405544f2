"""The job verbs: list, get, enqueue, retry, cancel, logs.

Each reads or changes BackgroundJobs through the client, whose errors ``main``
turns into exit codes; ``get`` and ``logs`` also read the job's events and
pods. What a verb prints is built by plain functions (``job_rows``,
``describe``), testable without a cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from bgjobs.cli.output import StatusLine, age, dump, priority_level, table
from bgjobs.cli.session import Session, UsageError
from bgjobs.client import Job, NotFound
from bgjobs.vocabulary import API_GROUP


async def cmd_list(s: Session, a: argparse.Namespace) -> int:
    """list BackgroundJobs

    kubectl bgjobs list --phase failed
    kubectl bgjobs list -A --type email --sort priority -o wide
    kubectl bgjobs list --limit 50   # then --continue TOKEN for the next page
    """
    page = await s.client.list(
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
        jobs.sort(key=lambda j: (-priority_level(j.priority), j.created or datetime.min))
    else:
        jobs.sort(key=lambda j: (j.created or datetime.min, j.name))
    if a.output in ("json", "yaml"):
        doc: dict[str, Any] = {"items": [j.raw for j in jobs]}
        if page.continue_token:
            doc["continue"] = page.continue_token
        print(dump(doc, a.output))
        return 0
    if jobs:
        print(job_rows(jobs, wide=a.output == "wide", all_namespaces=a.all_namespaces))
    else:
        print("No BackgroundJobs found.", file=sys.stderr)
    if page.continue_token:
        print(f"more: add --continue {page.continue_token}", file=sys.stderr)
    return 0


def job_rows(jobs: list[Job], *, wide: bool, all_namespaces: bool) -> str:
    """The table of ``list``: kubectl's columns, REASON, JOB and MESSAGE at ``-o wide``."""
    headers = ["NAME", "TYPE", "PRIORITY", "PHASE", "RETRIES", "AGE"]
    if wide:
        headers += ["REASON", "JOB", "MESSAGE"]
    if all_namespaces:
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
        if wide:
            row += [j.reason, j.status.get("jobName", ""), j.message[:60]]
        if all_namespaces:
            row.insert(0, j.namespace)
        rows.append(row)
    return table(headers, rows)


async def cmd_get(s: Session, a: argparse.Namespace) -> int:
    """show one job: spec, status, attempts, result, recent events

    kubectl bgjobs get welcome-mail-42
    kubectl bgjobs get welcome-mail-42 -o yaml
    """
    job = await s.client.get(a.name, namespace=a.namespace)
    if a.output != "text":
        print(dump(job.raw, a.output))
        return 0
    print(describe(job, await s.kube.events(job.namespace, job.name)))
    return 0


def describe(job: Job, events: list[dict[str, Any]]) -> str:
    """``get``'s text: spec, status, attempts, result and the last ten events."""
    st = job.status
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
    lines += _indent(dump(job.spec, "yaml"))
    if job.attempts:
        lines.append("Attempts:")
        rows = [
            [
                att.get("attempt"),
                att.get("jobName"),
                att.get("podName", ""),
                att.get("exitCode", ""),
                att.get("reason", ""),
                att.get("startedAt", ""),
                (att.get("message") or "")[:50],
            ]
            for att in job.attempts
        ]
        lines += _indent(table(["#", "JOB", "POD", "EXIT", "REASON", "STARTED", "MESSAGE"], rows))
    if "result" in st:
        lines.append("Result:")
        lines += _indent(json.dumps(st["result"], indent=2))
    if job.error:
        lines.append(f"Error:       {job.error}")
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
        lines += _indent(table(["TYPE", "REASON", "AGE", "MESSAGE"], rows))
    return "\n".join(lines)


def _indent(text: str) -> list[str]:
    return ["  " + line for line in text.splitlines()]


def read_payload(text: str) -> dict[str, Any]:
    """``--payload``: a JSON object, or ``@file`` holding one."""
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


async def cmd_enqueue(s: Session, a: argparse.Namespace) -> int:
    """create a BackgroundJob

    kubectl bgjobs enqueue email --payload '{"to": "ada@example.org"}' --wait
    kubectl bgjobs enqueue analytics --payload @event.json --priority Low --delay 5m
    kubectl bgjobs enqueue report --at 2026-12-01T09:00:00Z --retries 5 --timeout 10m
    """
    handle = await s.client.enqueue(
        a.type,
        read_payload(a.payload),
        priority=a.priority,
        delay=a.delay,
        run_at=a.at,
        retry_policy={"maxRetries": a.retries} if a.retries is not None else None,
        timeout=a.timeout,
        namespace=a.namespace,
        name=a.name,
    )
    created = f"backgroundjob.{API_GROUP}/{handle.name} created"
    print(created, file=sys.stderr if a.wait else sys.stdout)
    if not a.wait:
        return 0
    status = StatusLine(sys.stderr)
    try:
        result = await s.client.wait(
            handle.name, namespace=handle.namespace, timeout=a.wait_timeout, on_poll=status.show
        )
    finally:
        status.end()
    print(json.dumps(result, indent=2))
    return 0


async def cmd_retry(s: Session, a: argparse.Namespace) -> int:
    """send a Failed job back to the queue

    kubectl bgjobs retry resolve-7
    """
    job = await s.client.retry(a.name, namespace=a.namespace)
    print(f"backgroundjob.{API_GROUP}/{job.name} retried (back to the queue)")
    return 0


async def cmd_cancel(s: Session, a: argparse.Namespace) -> int:
    """cancel a queued, retrying or running job

    kubectl bgjobs cancel big-1
    """
    job = await s.client.cancel(a.name, namespace=a.namespace)
    print(f"backgroundjob.{API_GROUP}/{job.name} cancel requested")
    return 0


async def cmd_logs(s: Session, a: argparse.Namespace) -> int:
    """pod logs of the last attempt (or --attempt N)

    kubectl bgjobs logs resolve-7
    kubectl bgjobs logs resolve-7 --attempt 1
    """
    job = await s.client.get(a.name, namespace=a.namespace)
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
    pods = await s.kube.job_pods(job.namespace, chosen["jobName"])
    if not pods:
        raise NotFound(f"the pod of attempt {chosen['attempt']} ({chosen['jobName']}) is gone")
    pod = sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))[-1]
    text = await s.kube.pod_log(job.namespace, pod["metadata"]["name"], tail=a.tail)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0
