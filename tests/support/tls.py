"""Certificates made on the spot, for peers that speak TLS.

A throw-away CA and a server certificate it signs (the operator's own
``bgjobs.webhook.make_certificates``, on ``cryptography``), written as files:
no client trusts them unless it is given ``ca``.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from bgjobs.webhook import make_certificates


@dataclass(frozen=True)
class Certificates:
    ca: Path  # PEM: what a client is told to trust
    cert: Path  # PEM: the server's certificate
    key: Path  # PEM: the server's private key

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def certificates(directory: Path, host: str = "127.0.0.1") -> Certificates:
    """A new CA and a certificate for ``host`` (an IP address or a DNS name) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key, ca_pem = make_certificates(host, directory)
    ca = directory / "ca.pem"
    ca.write_bytes(ca_pem)
    return Certificates(ca, cert, key)
