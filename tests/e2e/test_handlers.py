"""Each shipped handler image runs as a real attempt pod against a real peer,
and its result lands on the BackgroundJob."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from kubernetes_asyncio import client

from tests.e2e.conftest import NOTIFY_SECRET, RELEASE, SYSTEM, Peers, Release
from tests.support.bgjobs import Jobs, bgjob, status
from tests.support.http_peer import Seen
from tests.support.images import handler_image


async def ran_on_the_real_node(jobs: Jobs, obj: dict[str, Any], job_type: str) -> None:
    """The attempt's pod ran the handler's image on the kubelet node."""
    (attempt,) = status(obj)["attempts"]
    pod = await client.CoreV1Api(jobs.api).read_namespaced_pod(attempt["podName"], jobs.namespace)
    node = await client.CoreV1Api(jobs.api).read_node(pod.spec.node_name)
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})
    assert pod.spec.containers[0].image == handler_image(job_type)
    assert pod.status.container_statuses[0].image_id  # pulled by nobody, run by containerd
    assert attempt["exitCode"] == 0


async def test_email_is_delivered_over_smtp(release: Release, jobs: Jobs, peers: Peers) -> None:
    payload = {"to": "ada@example.org", "subject": "Welcome", "body": "Hello from a pod"}
    await jobs.create(bgjob("welcome", "email", payload=payload))
    done = await jobs.wait("welcome", "Completed", "Failed", within=120)

    result = status(done).get("result") or {}
    assert result.get("status") == "sent", status(done)
    (message,) = [m for _, m in peers.inbox.messages if m["Message-ID"] == result["messageId"]]
    assert message["To"] == "ada@example.org"
    assert message["Subject"] == "Welcome"
    await ran_on_the_real_node(jobs, done, "email")


async def test_notification_is_posted_and_signed(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    with peers.receiver(lambda seen: (200, b'{"ok": true}')) as receiver:
        # Non-ASCII text reaches the pod as UTF-8 and the peer unchanged.
        payload = {"url": f"{receiver.url}/hooks/slack", "text": "market 7 resolved ✅ in Zürich"}
        await jobs.create(bgjob("notify", "notifications", payload=payload))
        done = await jobs.wait("notify", "Completed", "Failed", within=120)
        requests: list[Seen] = list(receiver.requests)

    assert status(done)["result"] == {"status": "delivered", "httpStatus": 200}, status(done)
    (seen,) = requests
    assert seen.path == "/hooks/slack"
    assert json.loads(seen.body)["text"] == "market 7 resolved ✅ in Zürich"
    mac = hmac.new(NOTIFY_SECRET.encode(), seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["X-Bgjobs-Signature"] == f"sha256={mac}"
    assert seen.headers["X-Bgjobs-Idempotency-Key"] == done["metadata"]["uid"]
    await ran_on_the_real_node(jobs, done, "notifications")


async def test_analytics_event_is_recorded_in_postgresql(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    payload = {"eventType": "signup", "userId": 42, "data": {"plan": "free"}}
    await jobs.create(bgjob("signup-42", "analytics", payload=payload))
    done = await jobs.wait("signup-42", "Completed", "Failed", within=120)

    assert status(done)["result"] == {"status": "recorded", "eventType": "signup"}, status(done)
    with psycopg.connect(peers.postgres.url) as conn:
        rows = conn.execute(
            "SELECT event_type, user_id, data FROM analytics_events WHERE job = %s",
            (f"{jobs.namespace}/signup-42",),
        ).fetchall()
    assert rows == [("signup", "42", {"plan": "free"})]
    await ran_on_the_real_node(jobs, done, "analytics")


async def test_market_is_resolved_through_the_app_api(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    payload = {"marketId": 7001, "outcome": "YES", "username": "creator"}
    await jobs.create(bgjob("resolve-7001", "market_resolution", payload=payload))
    done = await jobs.wait("resolve-7001", "Completed", "Failed", within=120)

    assert status(done)["result"] == {"marketId": 7001, "outcome": "YES", "status": "resolved"}
    assert peers.market.resolved["7001"] == "YES"
    await ran_on_the_real_node(jobs, done, "market_resolution")


async def test_cleanup_deletes_old_jobs_with_its_own_service_account(
    release: Release, api: client.ApiClient
) -> None:
    # The cleanup account exists where the chart is installed: the job runs there.
    jobs = Jobs(api, SYSTEM)
    long_ago = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ("ancient-1", "ancient-2"):
        # Never due (runAt far ahead), then marked finished long ago; kept by
        # their own ttlAfterFinished (the default retention would delete them).
        later = (datetime.now(UTC) + timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
        await jobs.create(
            bgjob(name, "notifications", payload={"text": "x"}, runAt=later, ttlAfterFinished="0s")
        )
        await jobs.custom.patch_namespaced_custom_object_status(
            "bgjobs.io", "v1alpha1", SYSTEM, "backgroundjobs", name,
            {"status": {"phase": "Completed", "completedAt": long_ago}},
            _content_type="application/merge-patch+json",  # type: ignore[call-arg]
        )  # fmt: skip
    payload = {"olderThan": "7d", "phases": ["Completed"]}
    await jobs.create(bgjob("cleanup-now", "cleanup", payload=payload))
    done = await jobs.wait("cleanup-now", "Completed", "Failed", within=120)

    assert status(done)["result"]["deleted"] == {"Completed": 2}, status(done)
    names = {o["metadata"]["name"] for o in await jobs.list()}
    assert not names & {"ancient-1", "ancient-2"}
    (attempt,) = status(done)["attempts"]
    pod = await client.CoreV1Api(api).read_namespaced_pod(attempt["podName"], SYSTEM)
    assert pod.spec.service_account_name == f"{RELEASE}-cleanup"
    await jobs.custom.delete_namespaced_custom_object(
        "bgjobs.io", "v1alpha1", SYSTEM, "backgroundjobs", "cleanup-now"
    )


def cleanup_account(release: Release, namespace: str) -> None:
    """What a platform team does for the cleanup handler in an app namespace
    (the chart makes the account only where it is installed)."""
    account = f"{RELEASE}-cleanup"
    release.kubectl("create", "serviceaccount", account, "-n", namespace)
    release.kubectl("create", "role", account, "-n", namespace,
                    "--verb=list,delete", "--resource=backgroundjobs.bgjobs.io")  # fmt: skip
    release.kubectl("create", "rolebinding", account, "-n", namespace,
                    f"--role={account}", f"--serviceaccount={namespace}:{account}")  # fmt: skip


async def test_every_handler_runs_where_pod_security_is_restricted(
    release: Release, jobs: Jobs, peers: Peers
) -> None:
    release.kubectl("label", "namespace", jobs.namespace,
                    "pod-security.kubernetes.io/enforce=restricted")  # fmt: skip
    # The API server enforces it: a pod without the settings is refused.
    plain = release.kubectl("run", "plain", "-n", jobs.namespace, "--image=bgjobs/busybox:1.35",
                            "--restart=Never", "--dry-run=server", check=False)  # fmt: skip
    assert plain.returncode != 0
    assert "violates PodSecurity" in plain.stderr, plain.stderr
    cleanup_account(release, jobs.namespace)
    with peers.receiver(lambda seen: (200, b"")) as receiver:
        payloads = {
            "email": {"to": "ada@example.org", "subject": "Restricted", "body": "hi"},
            "notifications": {"url": receiver.url, "text": "restricted"},
            "analytics": {"eventType": "restricted", "userId": 7},
            "market_resolution": {"marketId": 7002, "outcome": "NO", "username": "creator"},
            "cleanup": {"olderThan": "7d"},
        }
        for job_type, payload in payloads.items():
            await jobs.create(bgjob(job_type.replace("_", "-"), job_type, payload=payload))
        done = [
            await jobs.wait(t.replace("_", "-"), "Completed", "Failed", within=180)
            for t in payloads
        ]

    for obj in done:
        assert status(obj)["phase"] == "Completed", (obj["metadata"]["name"], status(obj))
        (attempt,) = status(obj)["attempts"]
        pod = await client.CoreV1Api(jobs.api).read_namespaced_pod(
            attempt["podName"], jobs.namespace
        )
        # Admitted under `restricted` with the defaults, not with settings of the test's.
        assert pod.spec.security_context.run_as_non_root is True
        assert pod.spec.containers[0].security_context.read_only_root_filesystem is True
        assert pod.spec.automount_service_account_token is (obj["spec"]["type"] == "cleanup")
