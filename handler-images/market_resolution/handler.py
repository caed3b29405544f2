"""market_resolution handler: resolve a prediction market through the SocialPredict API.

``POST {APP_BASE_URL}/v0/markets/{marketId}/resolve`` with
``{"resolution": "YES" | "NO" | "N/A"}`` and ``Authorization: Bearer <token>``.
The token is ``APP_TOKEN`` if set, else an HS256 JWT minted with
``APP_JWT_SIGNING_KEY``: claims ``{"username": <payload.username>, "exp": now+5m}``.

204: resolved. 409: the market was resolved already: success
(``already_resolved``), so the job is idempotent. 400, 403, 404 (bad outcome,
not allowed, unknown market) and other 4xx: permanent failure carrying the
server's message. 5xx, timeouts and network errors: retried.
Payload ``{marketId, outcome, username}``; result ``{marketId, outcome, status}``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Literal

import jwt
from pydantic import BaseModel, ConfigDict, Field

from bgjobs_handler import Context, PermanentError, handler, run


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    marketId: int | str
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


def _message(raw: bytes) -> str:
    text = raw.decode(errors="replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return text[:500]
    if isinstance(doc, dict):
        return str(doc.get("error") or doc.get("message") or text)[:500]
    return text[:500]


@handler(payload=Resolution)
def resolve(payload: Resolution, ctx: Context) -> dict[str, Any]:
    base = (ctx.env.get("APP_BASE_URL") or "").rstrip("/")
    if not base:
        raise PermanentError("APP_BASE_URL is not set in the handler's environment")
    market = urllib.parse.quote(str(payload.marketId), safe="")
    request = urllib.request.Request(
        f"{base}/v0/markets/{market}/resolve",
        data=json.dumps({"resolution": payload.outcome}).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token(payload, ctx.env)}",
            "User-Agent": "bgjobs-market-resolution/0.1",
        },
    )
    result = {"marketId": payload.marketId, "outcome": payload.outcome}
    try:
        with urllib.request.urlopen(request, timeout=float(ctx.env.get("APP_TIMEOUT", "15"))):
            return {**result, "status": "resolved"}
    except urllib.error.HTTPError as exc:
        message = _message(exc.read(2000))
        if exc.code == 409:
            return {**result, "status": "already_resolved"}
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            raise PermanentError(f"resolve answered {exc.code}: {message}") from exc
        raise RuntimeError(f"resolve answered {exc.code}: {message}") from exc


if __name__ == "__main__":
    run(resolve)
