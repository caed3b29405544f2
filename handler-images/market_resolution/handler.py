"""market_resolution handler: resolve a prediction market through the SocialPredict API.

``POST {APP_BASE_URL}/v0/markets/{marketId}/resolve`` with
``{"resolution": "YES" | "NO" | "N/A"}`` and ``Authorization: Bearer <token>``.
The token is ``APP_TOKEN`` if set, else an HS256 JWT minted with
``APP_JWT_SIGNING_KEY``: claims ``{"username": <payload.username>, "exp": now+5m}``.

204: resolved. 409 (SocialPredict's ``MARKET_CLOSED``): the handler reads the
market (``GET {APP_BASE_URL}/v0/markets/{marketId}``, ``market.isResolved``
and ``market.resolutionResult``). Resolved with the outcome asked for is
success (``already_resolved``), so the job is idempotent; resolved with
another outcome, or not resolved at all, is a permanent failure naming both.
400, 403, 404 (bad outcome, not allowed, unknown market) and other 4xx except
408 and 429: permanent failure carrying the server's reason (SocialPredict
answers errors as ``{"ok": false, "reason": "..."}``). 5xx, 408, 429,
timeouts and network errors (named with the URL): retried.

Settings: ``APP_BASE_URL`` (http or https), ``APP_TOKEN`` or
``APP_JWT_SIGNING_KEY``, ``APP_TIMEOUT`` (seconds, default 15); one missing
or malformed is a permanent failure.

Payload ``{marketId, outcome, username}``: ``marketId`` is a positive integer,
or a string of its digits (``true``, ``1.5``, ``""`` and ``"5/../4"`` are
refused before any request). Result ``{marketId, outcome, status}``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import jwt
from pydantic import Field, PlainValidator
from pydantic_core import PydanticCustomError

from bgjobs_handler import Context, Payload, PermanentError, handler, run
from bgjobs_handler.http import Answer, call, error_message
from bgjobs_handler.settings import required, seconds

MAX_MARKET_ID = 2**63 - 1  # SocialPredict's ids are int64
DIGITS = re.compile(r"[0-9]{1,19}")
USER_AGENT = "bgjobs-market-resolution/0.1"


def market_id(value: object) -> int:
    """A positive integer, or a string of ASCII digits; never a bool, a float or a path."""
    if isinstance(value, str) and DIGITS.fullmatch(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_MARKET_ID:
        raise PydanticCustomError(
            "market_id", "expected a positive integer, or a string of its digits"
        )
    return value


class Resolution(Payload):
    marketId: Annotated[int, PlainValidator(market_id)]
    outcome: Literal["YES", "NO", "N/A"]
    username: str = Field(min_length=1)


def token(payload: Resolution, env: Any, now: float | None = None) -> str:
    given = env.get("APP_TOKEN")
    if given:
        return str(given)
    key = env.get("APP_JWT_SIGNING_KEY")
    if not key:
        raise PermanentError("set APP_TOKEN or APP_JWT_SIGNING_KEY (from a Secret)")
    issued = int(now if now is not None else time.time())
    return jwt.encode({"username": payload.username, "exp": issued + 300}, key, algorithm="HS256")


def base_url(env: Mapping[str, str]) -> str:
    base = required(env, "APP_BASE_URL").rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise PermanentError(f"APP_BASE_URL={base!r}: expected an http:// or https:// URL")
    return base


def resolution_of(answer: Answer) -> str | None:
    """The market's outcome from SocialPredict's market details; None if not resolved."""
    market = answer.json()
    market = market.get("market") if isinstance(market, dict) else None
    if not isinstance(market, dict) or not isinstance(market.get("isResolved"), bool):
        raise PermanentError(f"{answer.what} answered {answer.status} without market.isResolved")
    if not market["isResolved"]:
        return None
    return str(market.get("resolutionResult") or "").strip().upper()


@handler(payload=Resolution)
def resolve(payload: Resolution, ctx: Context) -> dict[str, Any]:
    market = f"{base_url(ctx.env)}/v0/markets/{payload.marketId}"
    timeout = seconds(ctx.env, "APP_TIMEOUT", 15)
    headers = {"Authorization": f"Bearer {token(payload, ctx.env)}", "User-Agent": USER_AGENT}
    request = urllib.request.Request(
        f"{market}/resolve",
        data=json.dumps({"resolution": payload.outcome}).encode(),
        method="POST",
        headers={**headers, "Content-Type": "application/json"},
    )
    answer = call(request, timeout=timeout, what="resolve", accept={409})
    result = {"marketId": payload.marketId, "outcome": payload.outcome}
    if answer.status != 409:
        return {**result, "status": "resolved"}

    conflict = f"resolve answered 409: {error_message(answer.body)}"
    read = urllib.request.Request(market, method="GET", headers=headers)
    actual = resolution_of(call(read, timeout=timeout, what="reading the market"))
    if actual == payload.outcome:
        return {**result, "status": "already_resolved"}
    if actual is None:
        raise PermanentError(f"{conflict}; market {payload.marketId} is not resolved")
    raise PermanentError(
        f"{conflict}; market {payload.marketId} is already resolved {actual or '(no outcome)'}, "
        f"not {payload.outcome} as asked"
    )


if __name__ == "__main__":
    run(resolve)
