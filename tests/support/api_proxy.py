"""An HTTPS proxy in front of the API server that can answer 503 for a while.

Toxiproxy works on TCP and cannot make the API server *answer* an error; this
proxy does. It terminates TLS with its own certificate (a throw-away CA the
kubeconfig it writes trusts), forwards every request, watches included, to
the real API server with the original kubeconfig's credentials, and while
:attr:`ApiProxy.unavailable` is set answers each request with the Status a
real API server sends when it is overloaded or restarting (503
ServiceUnavailable).
"""

from __future__ import annotations

import base64
import ssl
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from bgjobs.webhook import make_certificates
from tests.support.redis_server import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}
UNAVAILABLE = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": "the server is currently unable to handle the request (test proxy)",
    "reason": "ServiceUnavailable",
    "code": 503,
}


def _file(entry: dict[str, Any], key: str, directory: Path) -> str | None:
    """A kubeconfig credential as a file path (``key`` or ``key-data``)."""
    if entry.get(key):
        return str(entry[key])
    data = entry.get(f"{key}-data")
    if not data:
        return None
    path = directory / key
    path.write_bytes(base64.b64decode(data))
    return str(path)


class ApiProxy:
    def __init__(self, kubeconfig: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bgjobs-api-proxy-"))
        doc = yaml.safe_load(kubeconfig.read_text())
        self.doc = doc
        cluster, user = doc["clusters"][0]["cluster"], doc["users"][0]["user"]
        self.upstream = cluster["server"].rstrip("/")
        client_ssl = ssl.create_default_context(
            cafile=_file(cluster, "certificate-authority", self.dir)
        )
        cert = _file(user, "client-certificate", self.dir)
        if cert:
            client_ssl.load_cert_chain(cert, _file(user, "client-key", self.dir))
        self.client_ssl = client_ssl
        self.token = user.get("token")
        # The webhook's own certificate maker: a CA and a certificate for 127.0.0.1.
        self.cert, self.key, ca = make_certificates("127.0.0.1", self.dir)
        self.ca = self.dir / "ca.crt"
        self.ca.write_bytes(ca)
        self.port = free_port()
        self.unavailable = False
        self.refused = 0  # requests answered 503
        self.requests: list[str] = []  # method and path?query of each, in order
        self.answers: list[tuple[str, int]] = []  # each forwarded request and its status
        self._streams: set[aiohttp.ClientResponse] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiProxy:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self.client_ssl),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
        )
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ssl.load_cert_chain(self.cert, self.key)
        await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=server_ssl).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def start_outage(self) -> None:
        """From now on answer 503, and end the watches in flight (as a restart does)."""
        self.unavailable = True
        for upstream in list(self._streams):
            upstream.close()

    def end_outage(self) -> None:
        self.unavailable = False

    def kubeconfig(self, out: Path) -> Path:
        """A kubeconfig that reaches the API server through this proxy."""
        doc = yaml.safe_load(yaml.safe_dump(self.doc))
        cluster = doc["clusters"][0]["cluster"]
        cluster["server"] = f"https://127.0.0.1:{self.port}"
        cluster.pop("certificate-authority-data", None)
        cluster["certificate-authority"] = str(self.ca)
        out.write_text(yaml.safe_dump(doc))
        return out

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.rel_url.path_qs}")
        if self.unavailable:
            self.refused += 1
            return web.json_response(UNAVAILABLE, status=503)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = await request.read()
        async with self._session.request(
            request.method,
            self.upstream + request.rel_url.path_qs,
            headers=headers,
            data=body or None,
        ) as upstream:
            self.answers.append((f"{request.method} {request.rel_url.path_qs}", upstream.status))
            response = web.StreamResponse(status=upstream.status)
            for key, value in upstream.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    response.headers[key] = value
            await response.prepare(request)
            self._streams.add(upstream)
            try:
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            except (aiohttp.ClientError, ConnectionError):
                return response  # cut by start_outage(), or the client went away
            finally:
                self._streams.discard(upstream)
            await response.write_eof()
            return response
