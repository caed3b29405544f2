"""A peer with SocialPredict's market-resolution semantics, for the market_resolution handler.

Tokens are HS256 JWTs signed with ``KEY``; only the user ``creator`` may
resolve; market ``404`` does not exist.
"""

from __future__ import annotations

import json
import threading

import jwt

from tests.support.http_peer import Seen

KEY = "signing-key-for-tests-only-32-bytes!"


class SocialPredict:
    """resolve: 204 once, 409 after; 400 bad outcome, 403 not the creator, 404 unknown."""

    def __init__(self, fail_first: int = 0) -> None:
        self.resolved: dict[str, str] = {}
        self.fail_first = fail_first
        self._lock = threading.Lock()  # the server answers on several threads

    def __call__(self, seen: Seen) -> tuple[int, bytes]:
        with self._lock:
            return self._answer(seen)

    def _answer(self, seen: Seen) -> tuple[int, bytes]:
        if self.fail_first:
            self.fail_first -= 1
            return 500, b'{"error": "database is busy"}'
        auth = seen.headers.get("Authorization", "")
        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), KEY, algorithms=["HS256"])
        except jwt.PyJWTError:
            return 401, b'{"error": "invalid token"}'
        market = seen.path.split("/")[3]
        if market == "404":
            return 404, b'{"error": "market not found"}'
        if claims["username"] != "creator":
            return 403, b'{"error": "only the market creator can resolve it"}'
        resolution = json.loads(seen.body).get("resolution")
        if resolution not in ("YES", "NO", "N/A"):
            return 400, b'{"error": "invalid resolution"}'
        if market in self.resolved:
            return 409, b'{"error": "market already resolved"}'
        self.resolved[market] = resolution
        return 204, b""
