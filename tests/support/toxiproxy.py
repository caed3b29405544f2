"""Toxiproxy (built by ``hack/toolchain.sh``) for injecting network faults in tests.

One ``toxiproxy-server`` per test session on a free loopback port; each test
makes the proxies it needs. A proxy forwards a local port to an upstream
(the API server, Redis); faults are toxics on it, or the proxy disabled:

- :meth:`Proxy.cut`: connections refused and the open ones closed;
- :meth:`Proxy.stall`: data stops flowing, connections stay open (a
  half-open peer: only timeouts notice);
- :meth:`Proxy.reset`: every connection is reset by the peer.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.cluster import tool_bin
from tests.support.poll import eventually_sync
from tests.support.redis_server import free_port


class Toxiproxy:
    def __init__(self) -> None:
        self.binary = tool_bin() / "toxiproxy-server"
        if not self.binary.exists():
            raise RuntimeError(f"{self.binary} missing: run hack/toolchain.sh")
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Toxiproxy:
        self.port = free_port()
        self._proc = subprocess.Popen(
            [str(self.binary), "-host", "127.0.0.1", "-port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def answers() -> bool:
            try:
                self.call("GET", "/version")
            except OSError:
                return False
            return True

        eventually_sync(answers, within=10, interval=0.05, what="toxiproxy-server to answer")
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=method
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read()
        return json.loads(text) if text.strip() else None

    def proxy(self, name: str, upstream: str) -> Proxy:
        """A new proxy to ``upstream`` (host:port) on a free loopback port."""
        listen = f"127.0.0.1:{free_port()}"
        self.call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream})
        return Proxy(self, name, listen)


@dataclass
class Proxy:
    server: Toxiproxy
    name: str
    listen: str

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    def _toxic(self, kind: str, **attributes: int) -> None:
        self.server.call(
            "POST",
            f"/proxies/{self.name}/toxics",
            {"name": kind, "type": kind, "stream": "downstream", "attributes": attributes},
        )

    def cut(self) -> None:
        self.server.call("POST", f"/proxies/{self.name}", {"enabled": False})

    def stall(self) -> None:
        self._toxic("timeout", timeout=0)  # 0: hold the data for ever

    def reset(self) -> None:
        self._toxic("reset_peer", timeout=0)

    def heal(self) -> None:
        """Back to a clean pass-through."""
        for toxic in self.server.call("GET", f"/proxies/{self.name}/toxics") or []:
            self.server.call("DELETE", f"/proxies/{self.name}/toxics/{toxic['name']}")
        self.server.call("POST", f"/proxies/{self.name}", {"enabled": True})


def kubeconfig_through(kubeconfig: Path, proxy: Proxy, out: Path) -> Path:
    """A copy of ``kubeconfig`` whose server is reached through ``proxy``.

    TLS passes through the proxy untouched: the local cluster's certificate
    names 127.0.0.1, which the proxy listens on too.
    """
    import yaml

    doc = yaml.safe_load(kubeconfig.read_text())
    for entry in doc["clusters"]:
        cluster = entry["cluster"]
        scheme = cluster["server"].partition("://")[0]
        cluster["server"] = f"{scheme}://127.0.0.1:{proxy.port}"
    out.write_text(yaml.safe_dump(doc))
    return out


def upstream_of(kubeconfig: Path) -> str:
    """``host:port`` of the API server that ``kubeconfig`` names."""
    import yaml

    doc = yaml.safe_load(kubeconfig.read_text())
    server: str = doc["clusters"][0]["cluster"]["server"]
    return server.partition("://")[2].split("/", 1)[0]
