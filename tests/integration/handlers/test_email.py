"""The email handler against a real SMTP server (aiosmtpd) on loopback, in clear text and over
STARTTLS and implicit TLS with a certificate made for the test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.handlers import IMAGES, attempt, load_handler
from tests.support.redis_server import free_port
from tests.support.smtp import Inbox
from tests.support.tls import Certificates, certificates

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


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return certificates(tmp_path_factory.mktemp("tls"))


@contextmanager
def tls_server(security: str, certs: Certificates) -> Iterator[tuple[Inbox, dict[str, str]]]:
    """aiosmtpd with the generated certificate: STARTTLS required, or TLS from the first byte."""
    inbox, port = Inbox(), free_port()
    if security == "starttls":
        controller = Controller(
            inbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=certs.server_context(),
            require_starttls=True,
        )
    else:
        controller = Controller(
            inbox, hostname="127.0.0.1", port=port, ssl_context=certs.server_context()
        )
    controller.start()
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": security}
    try:
        yield inbox, env
    finally:
        controller.stop()


MAIL = {"to": "ada@example.org", "subject": "Over TLS", "body": "Hello Ada"}


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_a_trusted_ca_delivers(certs: Certificates, tmp_path: Path, security: str) -> None:
    with tls_server(security, certs) as (inbox, env):
        code, out = attempt(send, MAIL, tmp_path, env={**env, "SMTP_CA_FILE": str(certs.ca)})

    assert code == 0, out
    assert json.loads(out)["status"] == "sent"
    assert body_of(inbox.messages[0][1], "plain").strip() == "Hello Ada"
    assert inbox.tls[0] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("security", ["starttls", "tls"])
@pytest.mark.parametrize(
    ("trust", "why"),
    [
        ("system", "(unable to get local issuer certificate)"),
        # Both CAs are named alike: OpenSSL picks the trusted one, and its signature fails.
        ("another CA", "(certificate signature failure)"),
        ("wrong name", "(IP address mismatch, certificate is not valid for '127.0.0.1')"),
    ],
)
def test_a_certificate_that_does_not_verify_is_permanent(
    certs: Certificates, tmp_path: Path, security: str, trust: str, why: str
) -> None:
    server_certs = certs
    ca_env: dict[str, str] = {}
    if trust == "another CA":
        ca_env = {"SMTP_CA_FILE": str(certificates(tmp_path / "other").ca)}
    if trust == "wrong name":
        server_certs = certificates(tmp_path / "named", "mail.example.org")
        ca_env = {"SMTP_CA_FILE": str(server_certs.ca)}

    with tls_server(security, server_certs) as (inbox, env):
        code, out = attempt(send, MAIL, tmp_path, env={**env, **ca_env})

    assert code == 3, out
    assert out.startswith(f"TLS to 127.0.0.1:{env['SMTP_PORT']}: the server's certificate"), out
    assert why in out
    assert "set SMTP_CA_FILE" in out
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"SMTP_CA_FILE": "/nonexistent/ca.pem"}, "SMTP_CA_FILE='/nonexistent/ca.pem': cannot"),
        ({"SMTP_SECURITY": "ssl"}, "SMTP_SECURITY='ssl': expected one of starttls, tls, none"),
        ({"SMTP_PORT": "smtp"}, "SMTP_PORT='smtp': expected a whole number from 1 to 65535"),
        ({"SMTP_TIMEOUT": "0"}, "SMTP_TIMEOUT='0': expected a positive number of seconds"),
        ({"SMTP_HOST": ""}, "SMTP_HOST is not set in the handler's environment"),
    ],
)
def test_a_bad_setting_is_permanent(tmp_path: Path, env: dict[str, str], says: str) -> None:
    full = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(free_port()), **env}
    code, out = attempt(send, MAIL, tmp_path, env=full)
    assert (code, out.startswith(says)) == (3, True), out
