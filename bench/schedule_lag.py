"""Benchmark: creation lag of an every-minute JobSchedule vs an every-minute CronJob.

Both run side by side on the same cluster (the local kwok one by default) for
``--slots`` minutes. This process watches the namespace and records when each
created object (a BackgroundJob for the JobSchedule, a batch/v1 Job for the
CronJob) is first seen; the lag is that moment minus the slot. Both are
observed the same way, so their lags compare fairly.

    .venv/bin/python -m bench.schedule_lag [--slots 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.api_client import ApiClient

from bench.dispatch import bench_operator, namespace
from bgjobs.vocabulary import API_GROUP, API_VERSION
from tests.support.bgjobs import jobschedule, registry
from tests.support.cluster import ensure_cluster, kubectl


def cronjob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name},
        "spec": {
            "schedule": "* * * * *",
            "timeZone": "UTC",
            "successfulJobsHistoryLimit": 10,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "c", "image": "bgjobs.local/fake:test"}],
                        }
                    },
                }
            },
        },
    }


async def watch_created(
    list_fn: Any, args: tuple[str, ...], seen: dict[str, float], stop: asyncio.Event
) -> None:
    async with watch.Watch() as w:
        async for event in w.stream(list_fn, *args, timeout_seconds=600):
            if event["type"] == "ADDED":
                obj = event["object"]
                name = obj["metadata"]["name"] if isinstance(obj, dict) else obj.metadata.name
                seen.setdefault(name, time.time())
            if stop.is_set():
                return


async def main_async(args: argparse.Namespace) -> None:
    cluster = ensure_cluster()
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=cfg)
    async with ApiClient(cfg) as api:
        apply = [kubectl(), "apply", "--server-side", "-f", "crds"]
        await asyncio.to_thread(subprocess.run, apply, check=True, capture_output=True)
        ns = await namespace(api, "bench-sched")
        custom = client.CustomObjectsApi(api)
        batch = client.BatchV1Api(api)
        seen_bg: dict[str, float] = {}
        seen_cj: dict[str, float] = {}
        stop = asyncio.Event()
        with bench_operator(ns) as op:
            op.write_registry(registry({"work": {}}))
            op.start()
            bgjobs_args = (API_GROUP, API_VERSION, ns, "backgroundjobs")
            watchers = [
                asyncio.create_task(
                    watch_created(custom.list_namespaced_custom_object, bgjobs_args, seen_bg, stop)
                ),
                asyncio.create_task(watch_created(batch.list_namespaced_job, (ns,), seen_cj, stop)),
            ]
            try:
                sched = jobschedule("every-minute", "* * * * *", successfulJobsHistoryLimit=10)
                await custom.create_namespaced_custom_object(
                    API_GROUP, API_VERSION, ns, "jobschedules", sched
                )
                await batch.create_namespaced_cron_job(ns, cronjob("every-minute"))  # type: ignore[arg-type]  # a dict is sent as is
                start = time.time()
                print(f"[bench] waiting for {args.slots} slots of '* * * * *' in {ns}", flush=True)
                slot_name = re.compile(r"^every-minute-(\d+)$")
                while True:
                    bg = [n for n in seen_bg if slot_name.match(n)]
                    cj = [n for n in seen_cj if slot_name.match(n)]
                    if min(len(bg), len(cj)) >= args.slots:
                        break
                    if time.time() - start > 60 * (args.slots + 2):
                        raise TimeoutError(f"only {len(bg)} JobSchedule / {len(cj)} CronJob runs")
                    await asyncio.sleep(1)
            finally:
                stop.set()
                for task in watchers:
                    task.cancel()
                op.stop()
        await client.CoreV1Api(api).delete_namespace(ns)

    # JobSchedule names carry the slot in unix seconds, CronJob names in unix
    # minutes; the operator's attempt Jobs (``...-a1``) do not match.
    slot_name = re.compile(r"^every-minute-(\d+)$")
    bg_lag = {int(m[1]): t - int(m[1]) for n, t in seen_bg.items() if (m := slot_name.match(n))}
    cj_lag = {
        int(m[1]) * 60: t - int(m[1]) * 60 for n, t in seen_cj.items() if (m := slot_name.match(n))
    }
    print()
    print(f"{'slot (UTC)':<22}{'JobSchedule lag':>18}{'CronJob lag':>14}")
    for slot in sorted(set(bg_lag) | set(cj_lag)):
        when = datetime.fromtimestamp(slot, UTC).strftime("%Y-%m-%d %H:%M:%S")
        b = f"{bg_lag[slot] * 1000:.0f} ms" if slot in bg_lag else "-"
        c = f"{cj_lag[slot] * 1000:.0f} ms" if slot in cj_lag else "-"
        print(f"{when:<22}{b:>18}{c:>14}")
    common = sorted(set(bg_lag) & set(cj_lag))
    if common:
        bm = statistics.median(bg_lag[s] for s in common)
        cm = statistics.median(cj_lag[s] for s in common)
        print(f"{'median':<22}{bm * 1000:>15.0f} ms{cm * 1000:>11.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slots", type=int, default=3)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
