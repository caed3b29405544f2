"""Serve the admission webhook: kopf's server, with certificates from files or made here.

In a cluster the chart mounts a certificate (Helm-generated or cert-manager)
and registers the webhook itself. For local runs, ``--webhook-port`` alone
makes a throw-away CA and server certificate for ``--webhook-host`` and,
with ``--webhook-manage NAME``, kopf registers a
ValidatingWebhookConfiguration pointing at this process.
"""

from __future__ import annotations

import datetime
import ipaddress
import tempfile
from dataclasses import dataclass
from pathlib import Path

import kopf
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class WebhookOptions:
    port: int
    addr: str = "0.0.0.0"
    host: str | None = None
    cert: str | None = None
    key: str | None = None
    ca: str | None = None
    manage: str | None = None


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_certificates(host: str, directory: Path) -> tuple[Path, Path, bytes]:
    """A CA and a server certificate for ``host``: (cert file, key file, CA PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("bgjobs-webhook-ca"))
        .issuer_name(_name("bgjobs-webhook-ca"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "tls.crt", directory / "tls.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    return cert_file, key_file, ca.public_bytes(serialization.Encoding.PEM)


def configure(settings: kopf.OperatorSettings, options: WebhookOptions) -> None:
    host = options.host or options.addr
    if options.cert and options.key:
        cert, key = Path(options.cert), Path(options.key)
        cadata = Path(options.ca).read_bytes() if options.ca else None
    else:
        cert, key, cadata = make_certificates(
            host, Path(tempfile.mkdtemp(prefix="bgjobs-webhook-"))
        )
    settings.admission.server = kopf.WebhookServer(
        addr=options.addr,
        port=options.port,
        host=host,
        certfile=cert,
        pkeyfile=key,
        cadata=cadata,
    )
    if options.manage:
        settings.admission.managed = options.manage
