"""An SMTP server (aiosmtpd) that keeps what it receives, for handler tests."""

from __future__ import annotations

import email
from email.message import Message

from aiosmtpd.smtp import SMTP, Envelope, Session


class Inbox:
    """What arrived, and over which TLS version each message came (None: in clear text)."""

    def __init__(self) -> None:
        self.messages: list[tuple[Envelope, Message]] = []
        self.tls: list[str | None] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy@"):
            return "450 4.2.1 mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        self.messages.append((envelope, email.message_from_bytes(raw)))
        tls = server.transport.get_extra_info("ssl_object") if server.transport else None
        self.tls.append(tls.version() if tls is not None else None)
        return "250 Message accepted"
