"""email handler: send one message over SMTP, plain and/or HTML, optionally from a template.

Payload ``{to, subject, body?, html?, template?, templateData?, from?, replyTo?}``;
``to`` is one address or a list. With ``template: welcome`` the files
``welcome.txt`` and/or ``welcome.html`` under ``TEMPLATE_DIR`` (a mounted
ConfigMap) are rendered with ``templateData`` (Jinja2; HTML autoescaped).

Settings (env, the secrets from a Secret): ``SMTP_HOST``, ``SMTP_PORT`` (587),
``SMTP_SECURITY`` (``starttls`` | ``tls`` | ``none``; default starttls),
``SMTP_CA_FILE``, ``SMTP_USER``, ``SMTP_PASSWORD``, ``SMTP_FROM``,
``SMTP_TIMEOUT`` (10 s), ``TEMPLATE_DIR`` (/templates). A missing or
malformed setting is a permanent failure.

TLS (``starttls``, or ``tls`` from the first byte) verifies the server's
certificate and name against the system's CAs, or, with ``SMTP_CA_FILE`` (a
PEM bundle, e.g. mounted from a ConfigMap), against the CAs in that file
only: the way to trust a private or self-signed CA. A certificate that does
not verify is a permanent failure: retrying cannot make it trusted.

Result ``{status: sent, messageId}``. The Message-ID is derived from the job's
idempotency key, so a retried attempt sends the same Message-ID and receivers
can drop a duplicate.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    select_autoescape,
)
from pydantic import ConfigDict, Field, model_validator

from bgjobs_handler import Context, Payload, PermanentError, handler, run
from bgjobs_handler.settings import integer, one_of, required, seconds

SECURITY = ("starttls", "tls", "none")


class EmailPayload(Payload):
    model_config = ConfigDict(populate_by_name=True)

    to: str | list[str] = Field(min_length=1)
    subject: str = Field(min_length=1, max_length=998)
    body: str | None = None
    html: str | None = None
    template: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]+$")
    template_data: dict[str, Any] = Field(default_factory=dict, alias="templateData")
    sender: str | None = Field(default=None, alias="from")
    reply_to: str | None = Field(default=None, alias="replyTo")

    @model_validator(mode="after")
    def _has_content(self) -> EmailPayload:
        if not (self.body or self.html or self.template):
            raise ValueError("give body, html or template")
        return self

    @property
    def recipients(self) -> list[str]:
        return [self.to] if isinstance(self.to, str) else list(self.to)


def render(payload: EmailPayload, template_dir: str) -> tuple[str | None, str | None]:
    """(plain, html) bodies."""
    if not payload.template:
        return payload.body, payload.html
    env = Environment(
        loader=FileSystemLoader(template_dir),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )
    bodies: dict[str, str | None] = {"txt": None, "html": None}
    for ext in bodies:
        try:
            bodies[ext] = env.get_template(f"{payload.template}.{ext}").render(
                **payload.template_data
            )
        except TemplateNotFound:
            continue
        except Exception as exc:  # an undefined variable, a syntax error: retrying cannot help
            raise PermanentError(f"payload.template {payload.template!r}: {exc}") from exc
    if bodies["txt"] is None and bodies["html"] is None:
        raise PermanentError(
            f"payload.template: no {payload.template}.txt or {payload.template}.html "
            f"in {template_dir}"
        )
    return bodies["txt"], bodies["html"]


def build(payload: EmailPayload, ctx: Context, sender: str) -> EmailMessage:
    plain, html = render(payload, ctx.env.get("TEMPLATE_DIR", "/templates"))
    msg = EmailMessage()
    msg["From"] = payload.sender or sender
    msg["To"] = ", ".join(payload.recipients)
    msg["Subject"] = payload.subject
    if payload.reply_to:
        msg["Reply-To"] = payload.reply_to
    domain = (payload.sender or sender).rpartition("@")[2] or "bgjobs.local"
    msg["Message-ID"] = f"<{ctx.idempotency_key or ctx.name}@{domain}>"
    if plain is not None:
        msg.set_content(plain)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    else:
        msg.set_content(html or "", subtype="html")
    return msg


def tls_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """Verifying context: the system's CAs, or only those in ``SMTP_CA_FILE``."""
    ca_file = env.get("SMTP_CA_FILE") or None
    try:
        return ssl.create_default_context(cafile=ca_file)
    except OSError as exc:  # missing, unreadable, or not PEM (ssl.SSLError is an OSError)
        raise PermanentError(f"SMTP_CA_FILE={ca_file!r}: cannot load it: {exc}") from exc


def connect(
    host: str, port: int, security: str, timeout: float, context: ssl.SSLContext | None
) -> smtplib.SMTP:
    """A connection, encrypted (and the certificate verified) unless ``security`` is none."""
    if security == "tls":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    smtp = smtplib.SMTP(host, port, timeout=timeout)
    if security == "starttls":
        try:
            smtp.starttls(context=context)
        except BaseException:
            smtp.close()  # no QUIT: the server may be waiting for a handshake
            raise
    return smtp


@handler(payload=EmailPayload)
def send(payload: EmailPayload, ctx: Context) -> dict[str, Any]:
    env = ctx.env
    host = required(env, "SMTP_HOST")
    port = integer(env, "SMTP_PORT", 587, low=1, high=65535)
    security = one_of(env, "SMTP_SECURITY", "starttls", SECURITY)
    timeout = seconds(env, "SMTP_TIMEOUT", 10)
    context = tls_context(env) if security != "none" else None
    sender = env.get("SMTP_FROM") or (env.get("SMTP_USER") or "bgjobs@localhost")
    msg = build(payload, ctx, sender)
    try:
        with connect(host, port, security, timeout, context) as smtp:
            if env.get("SMTP_USER"):
                smtp.login(env["SMTP_USER"], env.get("SMTP_PASSWORD", ""))
            smtp.send_message(msg)
    except ssl.SSLCertVerificationError as exc:
        raise PermanentError(
            f"TLS to {host}:{port}: the server's certificate does not verify "
            f"({exc.verify_message.rstrip('.')}); to trust its CA, set SMTP_CA_FILE"
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        codes = {addr: code for addr, (code, _) in exc.recipients.items()}
        if all(400 <= c < 500 for c in codes.values()):
            raise  # temporary (greylisting, mailbox busy): retried
        raise PermanentError(f"payload.to: refused by the server: {codes}") from exc
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600 and not isinstance(exc, smtplib.SMTPAuthenticationError):
            raise PermanentError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        raise
    return {"status": "sent", "messageId": msg["Message-ID"]}


if __name__ == "__main__":
    run(send)
