"""A scripted HTTP server: it records requests (GET and POST) and answers from a script.

It listens on loopback unless given a ``host``: the e2e tier binds it to the
real node's address so that pods can reach it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Peer:
    url: str
    requests: list[Seen] = field(default_factory=list)


Responder = Callable[[Seen], tuple[int, bytes]]


@contextmanager
def http_peer(respond: Responder, *, host: str = "127.0.0.1") -> Iterator[Peer]:
    peer = Peer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.answer("POST")

        def do_GET(self) -> None:
            self.answer("GET")

        def answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(
                method, self.path, {k: v for k, v in self.headers.items()}, self.rfile.read(length)
            )
            peer.requests.append(seen)
            status, body = respond(seen)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True  # a stalled answer must not hold shutdown
    peer.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
