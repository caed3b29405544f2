"""``kubectl bgjobs``: every verb, its output and its exit codes, on the local cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bgjobs.client import Client, JobFailed
from tests.support.bgjobs import registry
from tests.support.cluster import Cluster
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually_sync
from tests.support.redis_server import RedisServer

Run = Callable[..., OperatorProcess]
pytestmark = pytest.mark.usefixtures("fake_pods")
VERBS = ["list", "get", "enqueue", "retry", "cancel", "logs", "stats", "schedules", "run-now"]


class Plugin:
    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        self.namespace = namespace

    def __call__(self, *args: str, ns: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "bgjobs.cli.main", *args]
        if ns:
            cmd += ["-n", self.namespace]
        return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def kb(cluster: Cluster, namespace: str, crds: object) -> Plugin:
    return Plugin(cluster, namespace)


@pytest.fixture
def client(cluster: Cluster, namespace: str, crds: object) -> Iterator[Client]:
    c = Client(namespace, kubeconfig=str(cluster.kubeconfig))
    yield c
    c.close()


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_with_examples(kb: Plugin, verb: str) -> None:
    out = kb(verb, "--help", ns=False)
    assert out.returncode == 0
    assert "examples:" in out.stdout
    assert "kubectl bgjobs " + verb in out.stdout


def test_enqueue_wait_prints_the_result(run_operator: Run, kb: Plugin, tmp_path: Path) -> None:
    run_operator()
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps({"to": "a@b.c", "_fake": {"message": {"status": "sent"}}}))

    out = kb(
        "enqueue",
        "work",
        "--payload",
        f"@{payload}",
        "--priority",
        "High",
        "--retries",
        "2",
        "--timeout",
        "30s",
        "--name",
        "mail-1",
        "--wait",
    )

    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"status": "sent"}
    assert "mail-1: Completed" in out.stderr  # the live status line


def test_enqueue_errors_have_exit_codes(run_operator: Run, kb: Plugin) -> None:
    run_operator()
    refused = kb("enqueue", "work", "--priority", "Urgent", "--delay", "5 minutes")
    assert refused.returncode == 4
    assert "spec.delay" in refused.stderr

    bad_json = kb("enqueue", "work", "--payload", "{not json")
    assert bad_json.returncode == 2
    assert "--payload: not valid JSON" in bad_json.stderr

    failed = kb("enqueue", "work", "--payload", '{"_fake": {"exit-code": "3"}}', "--wait")
    assert failed.returncode == 5
    assert "PermanentFailure" in failed.stderr

    slow = kb(
        "enqueue",
        "work",
        "--payload",
        '{"_fake": {"hang": "true"}}',
        "--wait",
        "--wait-timeout",
        "1",
    )
    assert slow.returncode == 6


def test_list_filters_sorts_and_pages(run_operator: Run, kb: Plugin, client: Client) -> None:
    run_operator()
    for name, prio in (("a-low", "Low"), ("b-urgent", "Urgent"), ("c-normal", "Normal")):
        client.enqueue("work", {}, name=name, priority=prio)
    client.enqueue("work", {"_fake": {"exit-code": "3"}}, name="d-failed")
    for name in ("a-low", "b-urgent", "c-normal"):
        client.wait(name, timeout=60)
    with pytest.raises(JobFailed):
        client.wait("d-failed", timeout=60)

    table = kb("list", "--sort", "priority")
    names = [line.split()[0] for line in table.stdout.splitlines()[1:]]
    assert names[0] == "b-urgent"
    assert names[-1] == "a-low"
    assert table.stdout.splitlines()[0].split() == [
        "NAME",
        "TYPE",
        "PRIORITY",
        "PHASE",
        "RETRIES",
        "AGE",
    ]

    failed = kb("list", "--phase", "failed", "-o", "json")
    assert [i["metadata"]["name"] for i in json.loads(failed.stdout)["items"]] == ["d-failed"]
    urgent = kb("list", "--priority", "urgent", "-o", "yaml")
    assert [i["metadata"]["name"] for i in yaml.safe_load(urgent.stdout)["items"]] == ["b-urgent"]
    wide = kb("list", "-o", "wide")
    assert "REASON" in wide.stdout
    assert "PermanentFailure" in wide.stdout
    everywhere = kb("list", "-A", "--type", "work", ns=False)
    assert everywhere.stdout.splitlines()[0].startswith("NAMESPACE")

    page = kb("list", "--limit", "2", "-o", "json")
    doc = json.loads(page.stdout)
    assert len(doc["items"]) == 2
    rest = kb("list", "--limit", "10", "--continue", doc["continue"], "-o", "json")
    seen = {i["metadata"]["name"] for i in doc["items"] + json.loads(rest.stdout)["items"]}
    assert seen == {"a-low", "b-urgent", "c-normal", "d-failed"}
    assert "more: add --continue" in kb("list", "--limit", "1").stderr


def test_get_logs_retry_cancel(run_operator: Run, kb: Plugin, client: Client) -> None:
    run_operator()
    client.enqueue(
        "work",
        {"_fake": {"exit-code": "1,3,0", "message": {"n": 3}}},
        name="tri",
        retry_policy={"maxRetries": 1, "initialDelay": "100ms"},
    )
    with pytest.raises(JobFailed):
        client.wait("tri", timeout=60)

    shown = kb("get", "tri")
    assert shown.returncode == 0
    for text in (
        "Phase:       Failed (PermanentFailure)",
        "Attempts:",
        "tri-a1",
        "tri-a2",
        "Events:",
        "Retrying",
    ):
        assert text in shown.stdout, text
    logs = kb("logs", "tri", "--attempt", "1")
    assert logs.returncode == 0, logs.stderr
    assert "handler finished" in logs.stdout
    assert kb("logs", "tri", "--attempt", "9").returncode == 3

    not_failed = kb("retry", "no-such-job")
    assert not_failed.returncode == 3
    assert "not found" in not_failed.stderr
    assert kb("retry", "tri").returncode == 0
    assert client.wait("tri", timeout=60) == {"n": 3}
    again = kb("retry", "tri")
    assert again.returncode == 4
    assert "only a Failed job can be retried" in again.stderr
    assert json.loads(kb("get", "tri", "-o", "json").stdout)["status"]["result"] == {"n": 3}

    client.enqueue("work", {"_fake": {"hang": "true"}}, name="forever")
    assert kb("cancel", "forever").returncode == 0
    with pytest.raises(JobFailed, match="Cancelled"):
        client.wait("forever", timeout=60)
    assert kb("cancel", "forever").returncode == 4


def test_schedules_and_run_now(run_operator: Run, kb: Plugin, client: Client) -> None:
    run_operator()
    import subprocess as sp

    doc = {
        "apiVersion": "bgjobs.io/v1alpha1",
        "kind": "JobSchedule",
        "metadata": {"name": "nightly", "namespace": kb.namespace},
        "spec": {
            "schedule": "30 2 * * *",
            "timeZone": "Europe/Berlin",
            "jobTemplate": {"spec": {"type": "work"}},
        },
    }
    from tests.support.cluster import kubectl

    sp.run(
        [kubectl(), "apply", "-f", "-"],
        input=json.dumps(doc),
        text=True,
        check=True,
        env=kb.env,
        capture_output=True,
    )

    out = kb("schedules", "--next", "2", "-o", "json")
    item = json.loads(out.stdout)["items"][0]
    assert item["name"] == "nightly"
    assert len(item["nextRuns"]) == 2
    assert all(" 02:30:00 " in run for run in item["nextRuns"])
    assert len(item["nextRunsLocal"]) == 2
    assert "NEXT (SCHEDULE TZ)" in kb("schedules").stdout

    assert kb("run-now", "nightly").returncode == 0
    assert kb("run-now", "missing").returncode == 3

    def made() -> list[str]:
        return [j.name for j in client.list() if j.name.startswith("nightly-now-")]

    eventually_sync(made, within=30, interval=0.2, what="the run-now job")
    assert len(made()) == 1


def test_stats_agree_with_redis_and_the_objects(
    run_operator: Run, kb: Plugin, client: Client
) -> None:
    server = RedisServer().start()
    try:
        op = run_operator(
            registry({"work": {"concurrency": 2}}, maxConcurrentJobs=2), redis_url=server.url
        )
        client.enqueue("work", {}, name="done")
        client.wait("done", timeout=60)
        client.enqueue(
            "work", {"_fake": {"exit-code": "1"}}, name="again", retry_policy={"initialDelay": "1h"}
        )
        eventually_sync(
            lambda: client.get("again").phase == "Retrying",
            within=60,
            interval=0.2,
            what="again to be Retrying",
        )
        for i in range(2):
            client.enqueue("work", {"_fake": {"hang": "true"}}, name=f"busy-{i}")
        eventually_sync(
            lambda: all(client.get(f"busy-{i}").phase == "Running" for i in range(2)),
            within=60,
            interval=0.2,
            what="busy-0 and busy-1 to be Running",
        )
        for i in range(3):
            client.enqueue("work", {}, name=f"wait-{i}", priority="High")
        eventually_sync(
            lambda: all(client.get(f"wait-{i}").reason == "Queued" for i in range(3)),
            within=60,
            interval=0.2,
            what="wait-0..2 to be Queued",
        )

        out = kb("stats", "--redis-url", server.url, "--redis-prefix", op.prefix, "-o", "json")
        assert out.returncode == 0, out.stderr
        doc: dict[str, Any] = json.loads(out.stdout)
        rows = {(r["type"], r["priority"]): r for r in doc["rows"]}
        high, normal = rows[("work", "High")], rows[("work", "Normal")]
        assert (high["queued"], high["redisReady"]) == (3, 3)
        assert (normal["running"], normal["redisRunning"]) == (2, 2)
        assert (normal["retrying"], normal["redisDelayed"]) == (1, 1)
        assert normal["completedLastHour"] == 1
        assert high["oldestQueued"]
        assert doc["capacity"]["(all types)"] == {"limit": 2, "running": 2, "free": 0}
        assert doc["capacity"]["work"] == {"limit": 2, "running": 2, "free": 0}

        text = kb("stats", "--redis-url", server.url, "--redis-prefix", op.prefix).stdout
        assert "CAPACITY" in text
        no_redis = kb("stats")
        assert "capacity: unknown" in no_redis.stdout
    finally:
        server.stop()
