"""notifications handler: POST a signed JSON notification to a webhook.

Payload ``{url? | channel?, text, title?, data?}``. ``channel`` is looked up
in ``NOTIFY_CHANNELS`` (JSON ``{"ops": "https://..."}``) unless ``url`` is
given. The body is ``{"text", "title", "data", "job"}``; the header
``X-Bgjobs-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body
bytes with ``NOTIFY_SECRET`` (the receiver recomputes it), and
``X-Bgjobs-Idempotency-Key`` carries the job's key so a receiver can drop a
retried delivery.

2xx: delivered. 4xx (except 408 and 429): permanent failure carrying the
answer. 5xx, 408, 429, timeouts, network errors: retried; a network error
names only the webhook's origin (scheme, host, port), as a webhook's path often
carries its secret. ``NOTIFY_TIMEOUT`` (seconds, default 10); a bad setting is
a permanent failure.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.request
from typing import Any

from pydantic import Field, model_validator

from bgjobs_handler import Context, Payload, PermanentError, handler, run
from bgjobs_handler.http import call, shown
from bgjobs_handler.settings import required, seconds


class Notification(Payload):
    url: str | None = Field(default=None, pattern=r"^https?://")
    channel: str | None = None
    text: str = Field(min_length=1, max_length=10_000)
    title: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _target(self) -> Notification:
        if not (self.url or self.channel):
            raise ValueError("give url or channel")
        return self


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def target(payload: Notification, channels_json: str) -> str:
    if payload.url:
        return payload.url
    try:
        channels = json.loads(channels_json or "{}")
    except ValueError as exc:
        raise PermanentError(f"NOTIFY_CHANNELS is not valid JSON: {exc}") from exc
    url = channels.get(payload.channel)
    if not url:
        known = ", ".join(sorted(channels)) or "none configured"
        raise PermanentError(f"payload.channel: unknown channel {payload.channel!r} ({known})")
    return str(url)


@handler(payload=Notification)
def notify(payload: Notification, ctx: Context) -> dict[str, Any]:
    secret = required(ctx.env, "NOTIFY_SECRET")
    timeout = seconds(ctx.env, "NOTIFY_TIMEOUT", 10)
    url = target(payload, ctx.env.get("NOTIFY_CHANNELS", ""))
    body = json.dumps(
        {
            "text": payload.text,
            "title": payload.title,
            "data": payload.data,
            "job": {"name": ctx.name, "namespace": ctx.namespace, "attempt": ctx.attempt},
        },
        separators=(",", ":"),
    ).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "bgjobs-notifications/0.1",
            "X-Bgjobs-Signature": sign(body, secret),
            "X-Bgjobs-Idempotency-Key": ctx.idempotency_key,
        },
    )
    answer = call(request, timeout=timeout, what="webhook", name=shown(url, path=False))
    return {"status": "delivered", "httpStatus": answer.status}


if __name__ == "__main__":
    run(notify)
