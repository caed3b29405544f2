"""Container contract tests: each handler image, run as the pod would run it.

The payload goes in the env, a host file is mounted as /dev/termination-log,
and the exit code and the file are checked for success, permanent and
retryable failures. Peers (SMTP, HTTP, PostgreSQL) run on the host's
loopback and the containers use the host network.

Needs a Docker engine (`.ci/run` installs docker.io and starts dockerd);
without one these tests are skipped, saying why.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.http_peer import http_peer
from tests.support.images import HANDLER_TYPES, build_images, docker_problem, handler_image
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import free_port
from tests.support.smtp import Inbox
from tests.support.socialpredict import KEY, SocialPredict


@pytest.fixture(scope="session")
def images() -> None:
    problem = docker_problem()
    if problem:
        pytest.skip(f"container contract tests skipped: {problem}")
    build_images()


def run_image(
    job_type: str, payload: dict[str, Any], tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[int, str]:
    out = tmp_path / f"termination-{job_type}"
    out.write_text("")
    out.chmod(0o666)
    full_env = {"BGJOB_PAYLOAD": json.dumps(payload), "BGJOB_NAME": "c-1",
                "BGJOB_NAMESPACE": "app", "BGJOB_UID": "uid-c1", "BGJOB_IDEMPOTENCY_KEY": "uid-c1",
                "BGJOB_TYPE": job_type, "BGJOB_ATTEMPT": "1", **(env or {})}  # fmt: skip
    args = ["docker", "run", "--rm", "--network", "host", "--read-only",
            "-v", f"{out}:/dev/termination-log"]  # fmt: skip
    for key, value in full_env.items():
        args += ["-e", f"{key}={value}"]
    image = handler_image(job_type)
    done = subprocess.run([*args, image], capture_output=True, text=True, timeout=120)
    return done.returncode, out.read_text()


pytestmark = pytest.mark.usefixtures("images")


@pytest.mark.parametrize("job_type", HANDLER_TYPES)
def test_images_run_as_non_root_and_refuse_bad_payloads(job_type: str, tmp_path: Path) -> None:
    image = handler_image(job_type)
    user = subprocess.run(["docker", "image", "inspect", "-f", "{{.Config.User}}", image],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert user == "10001:10001"
    code, message = run_image(job_type, {"unexpected": True}, tmp_path)
    assert code == 3
    assert "payload" in message


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def test_email_image(smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = smtp
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": "none"}
    code, message = run_image("email", {"to": "ada@example.org", "subject": "Welcome",
                              "template": "welcome", "templateData": {"name": "Ada",
                              "app": "SocialPredict"}}, tmp_path, env)  # fmt: skip
    assert code == 0, message
    assert json.loads(message)["status"] == "sent"
    assert inbox.messages[0][1]["Subject"] == "Welcome"
    refused = {**env, "SMTP_PORT": str(free_port()), "SMTP_TIMEOUT": "2"}
    assert (
        run_image("email", {"to": "a@b.c", "subject": "s", "body": "b"}, tmp_path, refused)[0] == 1
    )


def test_notifications_and_market_resolution_images(tmp_path: Path) -> None:
    answers = iter([(200, b""), (404, b"no such hook"), (500, b"down")])
    with http_peer(lambda seen: next(answers)) as peer:
        env = {"NOTIFY_SECRET": "s", "NOTIFY_TIMEOUT": "5"}
        payload: dict[str, Any] = {"url": peer.url, "text": "hi"}
        assert run_image("notifications", payload, tmp_path, env)[0] == 0
        assert run_image("notifications", payload, tmp_path, env) == (
            3,
            "webhook answered 404: no such hook",
        )
        assert run_image("notifications", payload, tmp_path, env)[0] == 1

    with http_peer(SocialPredict()) as peer:
        env = {"APP_BASE_URL": peer.url, "APP_JWT_SIGNING_KEY": KEY}
        payload = {"marketId": 7, "outcome": "YES", "username": "creator"}
        first = run_image("market_resolution", payload, tmp_path, env)
        again = run_image("market_resolution", payload, tmp_path, env)
        other = run_image("market_resolution", {**payload, "outcome": "NO"}, tmp_path, env)
        refused = run_image("market_resolution", {**payload, "username": "eve"}, tmp_path, env)
    assert (first[0], json.loads(first[1])["status"]) == (0, "resolved")
    assert (again[0], json.loads(again[1])["status"]) == (0, "already_resolved")
    assert (other[0], "already resolved YES, not NO" in other[1]) == (3, True), other
    assert refused == (3, "resolve answered 403: AUTHORIZATION_DENIED")


def test_analytics_image(tmp_path: Path) -> None:
    with PostgresServer() as pg:
        env = {"DATABASE_URL": pg.url}
        payload = {"eventType": "signup", "userId": "9", "data": {"plan": "free"}}
        first = run_image("analytics", payload, tmp_path, env)
        second = run_image("analytics", payload, tmp_path, env)
    assert (first[0], json.loads(first[1])["status"]) == (0, "recorded")
    assert (second[0], json.loads(second[1])["status"]) == (0, "duplicate")
    down = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"}
    assert run_image("analytics", {"eventType": "x"}, tmp_path, down)[0] == 1
