"""HTTP answers as the SDK's outcomes, written once for every handler that calls an API.

The rule: a 4xx answer says the request itself is wrong, so a retry cannot fix
it (permanent), except 408 (the server gave up waiting) and 429 (rate
limited), which both mean "later". 5xx answers, timeouts and network errors
are retried. An error's text is read from the JSON envelopes APIs answer
with (``reason``, ``error``, ``message``; SocialPredict answers
``{"ok": false, "reason": "MARKET_NOT_FOUND"}``), else from the body as text.

    answer = call(request, timeout=15, what="resolve", accept={409})
    if answer.status == 409: ...   # only the statuses in ``accept`` come back
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from bgjobs_handler.runtime import PermanentError

RETRYABLE_4XX = frozenset({408, 429})
ENVELOPE_KEYS = ("reason", "error", "message")
MAX_ERROR_BODY = 2000
MAX_BODY = 1 << 20
MAX_MESSAGE = 500


class HttpError(Exception):
    """A non-2xx answer worth a retry (5xx, 408, 429): exit 1."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def is_permanent(status: int) -> bool:
    """4xx is permanent, except 408 and 429."""
    return 400 <= status < 500 and status not in RETRYABLE_4XX


def error_message(body: bytes) -> str:
    """What went wrong, from an error answer's body: the envelope's fields, else its text.

    ``reason``, ``error`` and ``message`` are joined in that order (a code, then
    its explanation); an ``error`` that is itself an object is read the same way.
    """
    text = body.decode(errors="replace").strip()
    try:
        doc = json.loads(text)
    except ValueError:
        return _cut(text)
    found = _envelope(doc)
    return _cut(found or text)


def _envelope(doc: Any) -> str:
    if not isinstance(doc, dict):
        return ""
    parts: list[str] = []
    for key in ENVELOPE_KEYS:
        value = doc.get(key)
        part = _envelope(value) if isinstance(value, dict) else value
        if isinstance(part, str) and part.strip() and part.strip() not in parts:
            parts.append(part.strip())
    return ": ".join(parts)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def shown(url: str, *, path: bool = True) -> str:
    """The URL as errors name it: without credentials, query or fragment (they may hold
    secrets), and without the path too if ``path`` is false (a webhook's path often does)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path if path else "", "", ""))


@dataclass(frozen=True)
class Answer:
    what: str
    status: int
    body: bytes

    def json(self) -> Any:
        """The body as JSON; anything else is a permanent error (the API broke its contract)."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise PermanentError(f"{self.what} answered {self.status}, not with JSON") from exc


def call(
    request: urllib.request.Request,
    *,
    timeout: float,
    what: str,
    accept: Collection[int] = (),
    name: str | None = None,
) -> Answer:
    """Send ``request`` and return a 2xx answer, or one whose status is in ``accept``.

    Any other status raises :class:`PermanentError` or :class:`HttpError` by
    :func:`is_permanent`, as ``"<what> answered <status>: <message>"``. A
    network error or timeout raises ``ConnectionError`` or ``TimeoutError``
    (retried) naming the method and the URL (``name``, else :func:`shown`).
    """
    where = f"{request.get_method()} {name or shown(request.full_url)}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return Answer(what, resp.status, resp.read(MAX_BODY))
    except urllib.error.HTTPError as exc:
        with exc:
            answer = Answer(what, exc.code, exc.read(MAX_ERROR_BODY))
        if answer.status in accept:
            return answer
        message = f"{what} answered {answer.status}: {error_message(answer.body)}"
        if is_permanent(answer.status):
            raise PermanentError(message) from exc
        raise HttpError(message, answer.status) from exc
    except TimeoutError as exc:
        raise TimeoutError(f"{where}: no answer within {timeout:g}s") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise TimeoutError(f"{where}: no answer within {timeout:g}s") from exc
        raise ConnectionError(f"{where}: {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise ConnectionError(f"{where}: {type(exc).__name__}: {exc}") from exc
