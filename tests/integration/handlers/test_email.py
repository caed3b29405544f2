"""The email handler against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.handlers import IMAGES, attempt, load_handler
from tests.support.redis_server import free_port
from tests.support.smtp import Inbox

send = load_handler("email").send


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, dict[str, str]]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "noreply@socialpredict.example",
        "TEMPLATE_DIR": str(IMAGES / "email" / "templates"),
    }
    yield inbox, env
    controller.stop()


def body_of(msg: Message, subtype: str) -> str:
    for part in msg.walk():
        if part.get_content_type() == f"text/{subtype}":
            payload: Any = part.get_payload(decode=True)
            return str(payload.decode())
    return ""


def test_plain_message_is_delivered(smtp: tuple[Inbox, dict[str, str]], tmp_path: Path) -> None:
    inbox, env = smtp
    code, out = attempt(
        send, {"to": "ada@example.org", "subject": "Hi", "body": "Hello Ada"}, tmp_path, env=env
    )

    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "sent"
    (envelope, msg) = inbox.messages[0]
    assert envelope.rcpt_tos == ["ada@example.org"]
    assert msg["Subject"] == "Hi"
    assert msg["From"] == "noreply@socialpredict.example"
    assert msg["Message-ID"] == result["messageId"]
    assert "Hello Ada" in body_of(msg, "plain")


def test_template_renders_plain_and_html(
    smtp: tuple[Inbox, dict[str, str]], tmp_path: Path
) -> None:
    inbox, env = smtp
    payload = {
        "to": ["ada@example.org", "bob@example.org"],
        "subject": "Welcome",
        "template": "welcome",
        "templateData": {"name": "<Ada>", "app": "SocialPredict"},
    }

    code, out = attempt(send, payload, tmp_path, env=env)

    assert code == 0, out
    envelope, msg = inbox.messages[0]
    assert sorted(envelope.rcpt_tos) == ["ada@example.org", "bob@example.org"]
    assert "Hello <Ada>," in body_of(msg, "plain")
    assert "Hello &lt;Ada&gt;," in body_of(msg, "html")  # autoescaped
    assert "<b>SocialPredict</b>" in body_of(msg, "html")


def test_retried_attempt_keeps_the_message_id(
    smtp: tuple[Inbox, dict[str, str]], tmp_path: Path
) -> None:
    inbox, env = smtp
    payload = {"to": "ada@example.org", "subject": "Hi", "html": "<p>Hi</p>"}
    first = json.loads(attempt(send, payload, tmp_path, env=env, attempt=1)[1])
    second = json.loads(attempt(send, payload, tmp_path, env=env, attempt=2)[1])
    assert first["messageId"] == second["messageId"]
    assert inbox.messages[0][1]["Message-ID"] == inbox.messages[1][1]["Message-ID"]


@pytest.mark.parametrize(
    ("payload", "code", "text"),
    [
        ({"to": "nobody@example.org", "subject": "s", "body": "b"}, 3, "payload.to: refused"),
        ({"to": "busy@example.org", "subject": "s", "body": "b"}, 1, "450"),
        ({"to": "a@b.c", "subject": "s"}, 3, "give body, html or template"),
        ({"to": "a@b.c", "subject": "s", "template": "missing"}, 3, "no missing.txt"),
        ({"to": "a@b.c", "subject": "s", "template": "welcome"}, 3, "payload.template"),
        ({"subject": "s", "body": "b"}, 3, "payload.to: Field required"),
    ],
)
def test_failures(
    smtp: tuple[Inbox, dict[str, str]],
    tmp_path: Path,
    payload: dict[str, Any],
    code: int,
    text: str,
) -> None:
    _, env = smtp
    got, out = attempt(send, payload, tmp_path, env=env)
    assert (got, text in out) == (code, True), out


def test_unreachable_server_is_retryable(tmp_path: Path) -> None:
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(free_port()),
        "SMTP_SECURITY": "none",
        "SMTP_TIMEOUT": "2",
    }
    code, out = attempt(send, {"to": "a@b.c", "subject": "s", "body": "b"}, tmp_path, env=env)
    assert code == 1
    assert "ConnectionRefusedError" in out
