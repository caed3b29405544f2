"""A peer with SocialPredict's market API, for the market_resolution handler.

It answers as SocialPredict's backend does (``backend/handlers/markets``):
errors in its envelope ``{"ok": false, "reason": "<REASON>"}``, and

- ``POST /v0/markets/{id}/resolve`` ``{"resolution": ...}``: 204; 400
  ``INVALID_REQUEST`` for an id that is not an integer, 401 ``INVALID_TOKEN``,
  400 ``VALIDATION_FAILED`` for an outcome other than YES, NO, N/A,
  404 ``MARKET_NOT_FOUND``, 403 ``AUTHORIZATION_DENIED`` unless the user is
  the market's creator, 409 ``MARKET_CLOSED`` once resolved, and 409
  ``MARKET_GROUP_CHILD_UNPUBLISHED`` (with a message) for a market in
  ``unpublished``;
- ``GET /v0/markets/{id}``: 200 ``{"market": {"id", "isResolved",
  "resolutionResult", ...}, ...}`` (not enveloped, as there), or 404.

Tokens are HS256 JWTs signed with ``KEY``; the creator of every market is
``creator``; market 404 does not exist.
"""

from __future__ import annotations

import json
import re
import threading

import jwt

from tests.support.http_peer import Seen

KEY = "signing-key-for-tests-only-32-bytes!"
MARKET = re.compile(r"/v0/markets/([^/]*)(/resolve)?")
OUTCOMES = ("YES", "NO", "N/A")


def failure(status: int, reason: str, message: str = "") -> tuple[int, bytes]:
    doc = {"ok": False, "reason": reason, **({"message": message} if message else {})}
    return status, json.dumps(doc).encode()


class SocialPredict:
    """Markets resolved so far in ``resolved`` (id → outcome); ``fail_first`` answers 500."""

    def __init__(
        self,
        fail_first: int = 0,
        *,
        resolved: dict[str, str] | None = None,
        unpublished: frozenset[str] = frozenset(),
    ) -> None:
        self.resolved: dict[str, str] = dict(resolved or {})
        self.unpublished = unpublished
        self.fail_first = fail_first
        self._lock = threading.Lock()  # the server answers on several threads

    def __call__(self, seen: Seen) -> tuple[int, bytes]:
        with self._lock:
            return self._answer(seen)

    def _answer(self, seen: Seen) -> tuple[int, bytes]:
        if self.fail_first:
            self.fail_first -= 1
            return failure(500, "INTERNAL_ERROR")
        route = MARKET.fullmatch(seen.path)
        if route is None:
            return failure(404, "NOT_FOUND")
        market, resolve = route.groups()
        if not re.fullmatch(r"-?[0-9]+", market):  # strconv.ParseInt
            return failure(400, "INVALID_REQUEST")
        if seen.method == "GET" and not resolve:
            return self._details(market)
        if seen.method == "POST" and resolve:
            return self._resolve(market, seen)
        return failure(405, "METHOD_NOT_ALLOWED")

    def _details(self, market: str) -> tuple[int, bytes]:
        if market == "404":
            return failure(404, "MARKET_NOT_FOUND")
        outcome = self.resolved.get(market, "")
        doc = {
            "market": {
                "id": int(market),
                "questionTitle": f"Market {market}?",
                "isResolved": bool(outcome),
                "resolutionResult": outcome,
                "creatorUsername": "creator",
            },
            "numUsers": 0,
        }
        return 200, json.dumps(doc).encode()

    def _resolve(self, market: str, seen: Seen) -> tuple[int, bytes]:
        auth = seen.headers.get("Authorization", "")
        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), KEY, algorithms=["HS256"])
        except jwt.PyJWTError:
            return failure(401, "INVALID_TOKEN")
        try:
            resolution = json.loads(seen.body).get("resolution")
        except (ValueError, AttributeError):
            return failure(400, "INVALID_REQUEST")
        if str(resolution).strip().upper() not in OUTCOMES:
            return failure(400, "VALIDATION_FAILED")
        if market == "404":
            return failure(404, "MARKET_NOT_FOUND")
        if claims["username"] != "creator":
            return failure(403, "AUTHORIZATION_DENIED")
        if market in self.unpublished:
            message = f"market {market} belongs to a group whose answer is not published"
            return failure(409, "MARKET_GROUP_CHILD_UNPUBLISHED", message)
        if market in self.resolved:
            return failure(409, "MARKET_CLOSED")
        self.resolved[market] = str(resolution).strip().upper()
        return 204, b""
