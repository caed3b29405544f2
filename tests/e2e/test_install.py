"""The installed system: the operator in-cluster with the chart's RBAC, its Redis
on a bound volume, metrics through its Service, the webhook refusing bad input."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.e2e.conftest import RELEASE, SYSTEM, Peers, Release
from tests.support.bgjobs import Jobs, bgjob, status
from tests.support.poll import eventually


def get_json(release: Release, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(release.kubectl("get", *args, "-o", "json").stdout)
    return out


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text: str = answer.read().decode()
        return text


async def test_operator_runs_in_cluster_with_only_the_charts_rbac(release: Release) -> None:
    (pod,) = release.operator_pods()
    spec = pod["spec"]
    assert spec["serviceAccountName"] == RELEASE
    assert pod["status"]["phase"] == "Running"
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"
    # In-cluster config: the ServiceAccount token and the kubernetes Service,
    # no kubeconfig anywhere in the pod.
    container = spec["containers"][0]
    assert not any(e["name"] == "KUBECONFIG" for e in container.get("env", []))
    mounts = [m["mountPath"] for m in container.get("volumeMounts", [])]
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts

    async def started() -> str | None:
        # Redis may come up after the operator: it retries until then.
        logs = release.kubectl("logs", "-n", SYSTEM, pod["metadata"]["name"]).stdout
        return logs if "rebuilt the Redis index" in logs else None

    logs = await eventually(started, within=120, what="the operator to reach Redis")
    assert "registry loaded from ConfigMap" in logs
    assert "Forbidden" not in logs, "the chart's RBAC is missing something the operator uses"
    # Exactly the rights the chart renders: nothing it doesn't ask for.
    sa = f"system:serviceaccount:{SYSTEM}:{RELEASE}"
    can = release.kubectl("auth", "can-i", "--list", "--as", sa, "-n", "default").stdout
    assert "backgroundjobs.bgjobs.io" in can
    assert (
        release.kubectl("auth", "can-i", "create", "pods", "--as", sa, check=False).stdout.strip()
        == "no"
    )
    assert (
        release.kubectl("auth", "can-i", "get", "secrets", "--as", sa, check=False).stdout.strip()
        == "no"
    )


def test_redis_runs_from_the_chart_on_a_bound_volume(release: Release) -> None:
    pvc = get_json(release, "pvc", "-n", SYSTEM, f"data-{RELEASE}-redis-0")
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["spec"]["storageClassName"] == "local-path"  # the cluster's default
    pod = get_json(release, "pod", "-n", SYSTEM, f"{RELEASE}-redis-0")
    assert pod["status"]["phase"] == "Running"
    claim = next(v for v in pod["spec"]["volumes"] if v["name"] == "data")
    assert claim["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]


async def test_metrics_are_served_by_the_service(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    with peers.receiver(lambda seen: (200, b"")) as receiver:
        await jobs.create(
            bgjob("metered", "notifications", payload={"url": receiver.url, "text": "m"})
        )
        await jobs.wait("metered", "Completed", within=90)
    svc = get_json(release, "svc", "-n", SYSTEM, f"{RELEASE}-metrics")
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
    # Through the Service's virtual IP, as Prometheus in the cluster would.
    text = await asyncio.to_thread(scrape, f"http://{ip}:{port}/metrics")
    completed = [
        line for line in text.splitlines()
        if line.startswith("bgjobs_jobs_completed_total{") and 'type="notifications"' in line
    ]  # fmt: skip
    assert completed, text[:2000]
    assert float(completed[0].split()[-1]) >= 1


def test_the_webhook_refuses_a_bad_apply_naming_the_field(
    release: Release, namespace: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad-jobs.yaml"
    bad.write_text(
        "apiVersion: bgjobs.io/v1alpha1\nkind: BackgroundJob\nmetadata: {name: mistyped}\n"
        "spec: {type: emial, payload: {to: a@example.org}}\n"
    )
    done = release.kubectl("apply", "-n", namespace, "-f", str(bad), check=False)
    assert done.returncode != 0
    assert "denied the request" in done.stderr  # the webhook, not the CRD schema
    assert "spec.type" in done.stderr
    assert "emial" in done.stderr
    listed = release.kubectl("get", "bgj", "-n", namespace, "-o", "name").stdout
    assert listed.strip() == ""


async def test_a_job_in_any_namespace_is_seen(release: Release, jobs: Jobs, peers: Peers) -> None:
    with peers.receiver(lambda seen: (200, b"")) as receiver:
        await jobs.create(
            bgjob("hello", "notifications", payload={"url": receiver.url, "text": "hi"})
        )
        done = await jobs.wait("hello", "Completed", "Failed", within=90)
        assert status(done)["phase"] == "Completed", status(done)
        assert len(receiver.requests) == 1


async def test_a_namespaced_install_needs_nothing_cluster_wide(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    """What a namespace admin can install: Roles in the watched namespace only."""
    release.ensure(rbac={"clusterWide": False}, watchNamespaces=[jobs.namespace])
    instance = f"app.kubernetes.io/instance={RELEASE}"
    cluster_wide = release.kubectl("get", "clusterrole,clusterrolebinding", "-l", instance,
                                   "-o", "name").stdout.split()  # fmt: skip
    assert cluster_wide == []
    with peers.receiver(lambda seen: (200, b"")) as receiver:
        payload = {"url": receiver.url, "text": "namespaced"}
        await jobs.create(bgjob("scoped", "notifications", payload=payload))
        done = await jobs.wait("scoped", "Completed", "Failed", within=120)
    assert status(done)["phase"] == "Completed", status(done)
    (pod,) = release.operator_pods()
    logs = release.kubectl("logs", "-n", SYSTEM, pod["metadata"]["name"]).stdout
    assert "Forbidden" not in logs, logs[-3000:]


async def test_a_job_made_invalid_by_a_registry_change_can_still_be_controlled(
    release: Release, jobs: Jobs
) -> None:
    """After the payload cap is lowered under a waiting job, the webhook still
    lets it be labelled, cancelled and deleted; it only refuses new work."""
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    payload = {"text": "x" * 2000}
    await jobs.create(bgjob("waiting", "notifications", payload=payload, runAt=later))
    release.ensure(maxPayloadBytes=1024)

    ns = jobs.namespace
    new = json.dumps(bgjob("new", "notifications", payload=payload))

    async def new_work_refused() -> str | None:
        # The webhook fails open (Ignore) until the new operator serves it.
        tried = release.kubectl("create", "-n", ns, "-f", "-", "--dry-run=server",
                                check=False, stdin=new)  # fmt: skip
        return tried.stderr if tried.returncode != 0 else None

    refused = await eventually(new_work_refused, within=60, what="the lowered cap enforced")
    assert "over the 1024-byte cap" in refused, refused
    # Each of these would be refused if the webhook judged the old payload again.
    release.kubectl("label", "bgj", "waiting", "-n", ns, "team=payments")
    cancelled = await jobs.patch("waiting", {"spec": {"cancel": True}})
    assert cancelled["spec"]["cancel"] is True
    assert cancelled["metadata"]["labels"]["team"] == "payments"
    release.kubectl("delete", "bgj", "waiting", "-n", ns, "--wait=true", "--timeout=60s")
    assert await jobs.get("waiting") is None
