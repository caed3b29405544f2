"""The JobSchedule verbs: ``schedules`` (with the next runs) and ``run-now``.

The client covers BackgroundJobs only, so these read and patch JobSchedules
through the API client; the next runs come from the operator's own cron
(``logic.cron``), in the schedule's zone and in the local one.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, tzinfo
from typing import Any

from bgjobs.cli.output import age, dump, table
from bgjobs.cli.session import Session, namespace
from bgjobs.client import NotFound
from bgjobs.logic.cron import ScheduleError, parse_schedule
from bgjobs.models.jobschedule import PLURAL as SCHEDULES
from bgjobs.vocabulary import API_GROUP, RUN_NOW_ANNOTATION

HEADERS = [
    "NAME",
    "SCHEDULE",
    "TIMEZONE",
    "SUSPEND",
    "LAST",
    "NEXT (SCHEDULE TZ)",
    "NEXT (LOCAL)",
    "RUNS",
]


async def cmd_schedules(s: Session, a: argparse.Namespace) -> int:
    """list JobSchedules with their next runs

    kubectl bgjobs schedules
    kubectl bgjobs schedules -A --next 3
    """
    ns = None if a.all_namespaces else namespace(a)
    page = await s.kube.list_custom_page(SCHEDULES, ns)
    now = datetime.now(UTC)
    local_tz = datetime.now().astimezone().tzinfo or UTC
    docs = [describe(obj, now, local_tz, a.next) for obj in page.get("items", [])]
    if a.output != "table":
        print(dump({"items": docs}, a.output))
        return 0
    rows = [row(doc, all_namespaces=a.all_namespaces) for doc in docs]
    headers = ["NAMESPACE", *HEADERS] if a.all_namespaces else HEADERS
    print(table(headers, rows) if rows else "No JobSchedules found.")
    return 0


def describe(obj: dict[str, Any], now: datetime, local_tz: tzinfo, count: int) -> dict[str, Any]:
    """One schedule as ``-o json`` shows it: its spec, status and next ``count`` runs
    (at least one; none while suspended, and ``problem`` says why a schedule has none)."""
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    nexts: list[datetime] = []
    try:
        sched = parse_schedule(spec.get("schedule", ""), spec.get("timeZone") or "UTC")
        t = now
        if not spec.get("suspend"):
            for _ in range(max(1, count)):
                t = sched.next_after(t)
                nexts.append(t)
    except ScheduleError as exc:
        sched, problem = None, str(exc)
    else:
        problem = ""
    zone = sched.zone if sched else UTC
    return {
        "namespace": obj["metadata"]["namespace"],
        "name": obj["metadata"]["name"],
        "schedule": spec.get("schedule"),
        "timeZone": spec.get("timeZone", "UTC"),
        "suspend": bool(spec.get("suspend")),
        "runCount": st.get("runCount", 0),
        "lastScheduleTime": st.get("lastScheduleTime"),
        "nextRuns": [n.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") for n in nexts],
        "nextRunsLocal": [n.astimezone(local_tz).strftime("%Y-%m-%d %H:%M:%S %Z") for n in nexts],
        "problem": problem,
    }


def row(doc: dict[str, Any], *, all_namespaces: bool) -> list[Any]:
    """A ``describe``d schedule as a table row."""
    suspended = doc["suspend"]
    out = [
        doc["name"],
        doc["schedule"],
        doc["timeZone"],
        str(suspended).lower(),
        age(doc["lastScheduleTime"]),
        "; ".join(doc["nextRuns"]) or ("suspended" if suspended else doc["problem"] or "-"),
        "; ".join(doc["nextRunsLocal"]) or "-",
        doc["runCount"],
    ]
    return [doc["namespace"], *out] if all_namespaces else out


async def cmd_run_now(s: Session, a: argparse.Namespace) -> int:
    """run a JobSchedule's job at once

    kubectl bgjobs run-now daily-report
    """
    ns = namespace(a)
    if await s.kube.get_custom(SCHEDULES, ns, a.name) is None:
        raise NotFound(f"JobSchedule {ns}/{a.name} not found")
    token = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    patch = {"metadata": {"annotations": {RUN_NOW_ANNOTATION: token}}}
    await s.kube.patch_custom(SCHEDULES, ns, a.name, patch)
    print(f"jobschedule.{API_GROUP}/{a.name} run requested ({RUN_NOW_ANNOTATION}={token})")
    return 0
