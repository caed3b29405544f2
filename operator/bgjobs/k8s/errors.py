"""The API's failures in the project's own types, mapped in one place.

Every call to the API server goes through :func:`api_errors`, so callers
catch :class:`NotFound`, :class:`Conflict` or :class:`KubeError` (``status``
0 for a connection that failed or timed out) and never the generated
client's ``ApiException``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from kubernetes_asyncio.client.exceptions import ApiException


class KubeError(Exception):
    """An API call failed; ``status`` is the HTTP status, the message the server's."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    pass


class Gone(KubeError):
    """A watch's resourceVersion or a list's continue token is too old (410)."""


_BY_STATUS: dict[int, type[KubeError]] = {404: NotFound, 409: Conflict, 410: Gone}


def error_for(status: int | None, body: bytes | str | None, reason: str, what: str) -> KubeError:
    """The error for a refused call: its kind from the status, the server's message."""
    message = reason
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        message = json.loads(body or b"").get("message", message)
    kind = _BY_STATUS.get(status or 0, KubeError)
    return kind(f"{what}: {message}" if message else what, status)


@contextlib.contextmanager
def api_errors(what: str) -> Iterator[None]:
    """Turn the generated client's ``ApiException`` into :class:`KubeError`s.

    ``what`` names the call for the message (``"get Job ns/name"``).
    """
    try:
        yield
    except ApiException as exc:
        raise error_for(exc.status, exc.body, exc.reason or "", what) from exc
