"""The pod contract: read the env, validate, call the handler, write the outcome."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any, Generic, TypeVar, overload

from pydantic import BaseModel, ConfigDict, ValidationError

EXIT_OK = 0
EXIT_RETRY = 1
EXIT_PERMANENT = 3
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports it; retryable
MAX_RESULT_BYTES = 4096
MAX_MESSAGE = 1024
TERMINATION_LOG = "/dev/termination-log"

P = TypeVar("P")
R = TypeVar("R")
log = logging.getLogger("bgjobs_handler")


class PermanentError(Exception):
    """Raise for a failure that retrying cannot fix (bad input, unknown entity): exit 3."""


class Payload(BaseModel):
    """A base for payload models that take the JSON as it is.

    Unknown fields are refused, and so is silent coercion: ``"5"`` for a
    number, ``1`` or ``"yes"`` for ``true``, ``true`` for ``1``, ``1.0`` for an
    integer. The SDK validates the payload's JSON text, so JSON's own forms
    still count (an ISO 8601 string for a datetime, an array for a tuple).
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class Terminated(BaseException):
    """SIGTERM arrived: the attempt's deadline passed, or the pod is being deleted.

    A ``BaseException``, so that a handler's ``except Exception`` does not
    swallow it; ``finally`` blocks and context managers still run.
    """


@dataclass(frozen=True)
class Context:
    """Who this attempt is: from the ``BGJOB_*`` env the operator sets."""

    name: str
    namespace: str
    uid: str
    type: str
    attempt: int
    idempotency_key: str
    env: Mapping[str, str]
    deadline: datetime | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Context:
        try:
            attempt = int(env.get("BGJOB_ATTEMPT", "1"))
        except ValueError:
            attempt = 1
        uid = env.get("BGJOB_UID", "")
        try:
            deadline = datetime.fromisoformat(env["BGJOB_DEADLINE"].replace("Z", "+00:00"))
        except (KeyError, ValueError):
            deadline = None
        return cls(
            name=env.get("BGJOB_NAME", "local"),
            namespace=env.get("BGJOB_NAMESPACE", ""),
            uid=uid,
            type=env.get("BGJOB_TYPE", ""),
            attempt=attempt,
            idempotency_key=env.get("BGJOB_IDEMPOTENCY_KEY", uid),
            env=env,
            deadline=deadline,
        )


class Handler(Generic[P, R]):
    """A function plus the pydantic model its payload must satisfy (if any)."""

    def __init__(self, fn: Callable[[P, Context], R], payload: type[BaseModel] | None) -> None:
        self.fn = fn
        self.payload_model = payload
        self.__name__ = getattr(fn, "__name__", "handler")
        self.__doc__ = fn.__doc__

    def __call__(self, payload: P, ctx: Context) -> R:
        return self.fn(payload, ctx)


@overload
def handler(fn: Callable[[P, Context], R], /) -> Handler[P, R]: ...


@overload
def handler(
    *, payload: type[BaseModel] | None = None
) -> Callable[[Callable[[P, Context], R]], Handler[P, R]]: ...


def handler(
    fn: Callable[[P, Context], R] | None = None, /, *, payload: type[BaseModel] | None = None
) -> Handler[P, R] | Callable[[Callable[[P, Context], R]], Handler[P, R]]:
    """Decorate a ``(payload, ctx) -> result`` function; ``payload=Model`` validates input."""

    def wrap(f: Callable[[P, Context], R]) -> Handler[P, R]:
        return Handler(f, payload)

    return wrap(fn) if fn is not None else wrap


class _JsonFormatter(logging.Formatter):
    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx = ctx

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
            "job": f"{self.ctx.namespace}/{self.ctx.name}",
            "type": self.ctx.type,
            "attempt": self.ctx.attempt,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info and record.levelno >= logging.ERROR:
            doc["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(doc, default=str)


def configure_logging(ctx: Context) -> None:
    """JSON lines on stderr, each naming the job, its type and attempt (``BGJOB_LOG_LEVEL``)."""
    root = logging.getLogger()
    handler_ = logging.StreamHandler(sys.stderr)
    handler_.setFormatter(_JsonFormatter(ctx))
    root.handlers[:] = [handler_]
    root.setLevel(ctx.env.get("BGJOB_LOG_LEVEL", "INFO").upper())


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:  # the message is lost, the exit code still counts
        log.warning("cannot write the termination message to %s: %s", path, exc)


def _field_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        parts.append(f"payload.{loc}: {err['msg']}" if loc else f"payload: {err['msg']}")
    return "; ".join(parts)


def _to_json(result: Any) -> str:
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    return json.dumps(result, separators=(",", ":"), default=str)


# Kubernetes starts counting a Job's activeDeadlineSeconds a moment after the
# operator computed BGJOB_DEADLINE; a SIGTERM this close to it is the deadline.
DEADLINE_SLACK_SECONDS = 2.0


def _terminated_message(ctx: Context, seconds: float, now: datetime) -> str:
    after = f"after {seconds:.1f}s"
    if ctx.deadline is not None and now.timestamp() >= (
        ctx.deadline.timestamp() - DEADLINE_SLACK_SECONDS
    ):
        return f"deadline exceeded: the attempt's timeout passed, stopped by SIGTERM {after}"
    return f"stopped by SIGTERM {after} (the pod was deleted or evicted)"


class _Sigterm:
    """SIGTERM interrupts the handler's function only: ``armed`` while it runs.

    Outside it (reading the payload, writing the outcome) the signal is only
    noted: the SDK finishes writing what it has, well within the grace period,
    and a function not yet started is not started.
    """

    armed = False
    received = False

    @classmethod
    def on_signal(cls, signum: int, frame: FrameType | None) -> None:
        cls.received = True
        if cls.armed:
            raise Terminated


def _call(fn: Callable[[Any, Context], Any], payload: Any, ctx: Context) -> Any:
    _Sigterm.armed = True
    try:
        if _Sigterm.received:
            raise Terminated
        return fn(payload, ctx)
    finally:
        _Sigterm.armed = False


def run_handler(
    fn: Callable[[Any, Context], Any],
    *,
    env: Mapping[str, str] | None = None,
    termination_log: str | None = None,
) -> int:
    """Run one attempt; returns the exit code (0 ok, 1 retryable, 3 permanent)."""
    env = os.environ if env is None else env
    path = termination_log or env.get("BGJOB_TERMINATION_LOG", TERMINATION_LOG)
    ctx = Context.from_env(env)
    model = getattr(fn, "payload_model", None)
    text = env.get("BGJOB_PAYLOAD") or "{}"
    try:
        raw = json.loads(text)
    except ValueError as exc:
        message = f"BGJOB_PAYLOAD is not valid JSON: {exc}"
        log.error(message)
        _write(path, message)
        return EXIT_PERMANENT
    try:
        # From the text, not from ``raw``: a strict model then reads JSON's forms.
        payload = model.model_validate_json(text) if model is not None else raw
    except ValidationError as exc:
        message = _short(_field_errors(exc))
        log.error("invalid payload: %s", message)
        _write(path, message)
        return EXIT_PERMANENT

    started = time.monotonic()
    log.info("attempt started")
    try:
        result = _call(fn, payload, ctx)
    except Terminated:
        message = _terminated_message(ctx, time.monotonic() - started, datetime.now(UTC))
        log.error(message)
        _write(path, message)
        return EXIT_TERMINATED
    except PermanentError as exc:
        message = _short(str(exc) or type(exc).__name__)
        log.error("permanent failure: %s", message)
        _write(path, message)
        return EXIT_PERMANENT
    except Exception as exc:
        message = _short(f"{type(exc).__name__}: {exc}")
        log.error("failed, will be retried: %s", message, exc_info=True)
        _write(path, message)
        return EXIT_RETRY

    text = _to_json(result)
    size = len(text.encode())
    if size > MAX_RESULT_BYTES:
        message = (
            f"result is {size} bytes, over the {MAX_RESULT_BYTES}-byte termination-message "
            "limit: return less (e.g. an id or a count) and store the rest elsewhere"
        )
        log.error(message)
        _write(path, message)
        return EXIT_PERMANENT
    _write(path, text)
    log.info(
        "attempt succeeded", extra={"fields": {"seconds": round(time.monotonic() - started, 3)}}
    )
    return EXIT_OK


def run(fn: Callable[[Any, Context], Any]) -> None:
    """Entry point of a handler image: run one attempt and exit with its code.

    SIGTERM (the kubelet stopping the pod at the attempt's deadline, or on
    deletion) interrupts the handler with :class:`Terminated`; the attempt
    ends with exit code 143 and a message saying which it was.
    """
    configure_logging(Context.from_env(os.environ))
    signal.signal(signal.SIGTERM, _Sigterm.on_signal)
    sys.exit(run_handler(fn))
