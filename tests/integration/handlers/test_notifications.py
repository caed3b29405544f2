"""The notifications handler against a webhook server that checks the signature."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from tests.support.handlers import attempt, load_handler
from tests.support.http_peer import Seen, http_peer
from tests.support.redis_server import free_port

notify = load_handler("notifications").notify
SECRET = "s3cret"


def verified(seen: Seen) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), seen.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(seen.headers.get("X-Bgjobs-Signature", ""), expected)


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [
        (200, 0, "delivered"),
        (204, 0, "delivered"),
        (404, 3, "webhook answered 404"),
        (400, 3, "webhook answered 400"),
        (429, 1, "429"),
        (500, 1, "webhook answered 500"),
        (503, 1, "503"),
    ],
)
def test_status_classes(tmp_path: Path, status: int, code: int, text: str) -> None:
    def respond(seen: Seen) -> tuple[int, bytes]:
        if not verified(seen):
            return 401, b"bad signature"
        return status, b"" if status == 204 else b"answer"

    with http_peer(respond) as peer:
        got, out = attempt(
            notify,
            {"channel": "ops", "text": "deploy finished", "data": {"version": "1.2"}},
            tmp_path,
            env={
                "NOTIFY_SECRET": SECRET,
                "NOTIFY_CHANNELS": json.dumps({"ops": peer.url + "/hook"}),
            },
        )
    assert got == code, out
    assert text in out
    seen = peer.requests[0]
    assert seen.path == "/hook"
    assert verified(seen)
    body = json.loads(seen.body)
    assert body["text"] == "deploy finished"
    assert body["data"] == {"version": "1.2"}
    assert seen.headers["X-Bgjobs-Idempotency-Key"].startswith("5f0c1e2a")


def test_a_wrong_secret_is_refused_permanently(tmp_path: Path) -> None:
    with http_peer(lambda s: (200, b"") if verified(s) else (401, b"bad signature")) as peer:
        code, out = attempt(
            notify, {"url": peer.url, "text": "hi"}, tmp_path, env={"NOTIFY_SECRET": "wrong"}
        )
    assert code == 3
    assert "401: bad signature" in out


def test_input_and_network_errors(tmp_path: Path) -> None:
    env = {"NOTIFY_SECRET": SECRET, "NOTIFY_CHANNELS": "{}", "NOTIFY_TIMEOUT": "2"}
    assert attempt(notify, {"text": "hi"}, tmp_path, env=env)[0] == 3
    code, out = attempt(notify, {"channel": "nope", "text": "hi"}, tmp_path, env=env)
    assert (code, "unknown channel 'nope'" in out) == (3, True)
    port = free_port()
    down = {"url": f"http://127.0.0.1:{port}/services/T0/secret-token", "text": "hi"}
    code, out = attempt(notify, down, tmp_path, env=env)
    assert code == 1
    assert out.startswith(f"ConnectionError: POST http://127.0.0.1:{port}: "), out
    assert "secret-token" not in out  # a webhook's path is its secret


def test_a_bad_setting_is_permanent(tmp_path: Path) -> None:
    env = {"NOTIFY_SECRET": SECRET, "NOTIFY_TIMEOUT": "ten"}
    code, out = attempt(notify, {"url": "http://127.0.0.1:9/", "text": "hi"}, tmp_path, env=env)
    assert (code, out) == (3, "NOTIFY_TIMEOUT='ten': expected a positive number of seconds")
