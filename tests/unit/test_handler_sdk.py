"""The handler SDK: payload validation, results, exit codes, the 4 KiB cap, logs."""

import json
import logging
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from bgjobs_handler import (
    EXIT_OK,
    EXIT_PERMANENT,
    EXIT_RETRY,
    EXIT_TERMINATED,
    Context,
    Payload,
    PermanentError,
    Terminated,
    handler,
    run_handler,
)
from bgjobs_handler.local import main as local_main
from tests.support.poll import eventually_sync


class Mail(BaseModel):
    to: str
    subject: str


@handler(payload=Mail)
def send(payload: Mail, ctx: Context) -> dict[str, Any]:
    if payload.to == "nobody":
        raise PermanentError("payload.to: no such mailbox")
    if payload.to == "flaky":
        raise ConnectionError("smtp.example.org refused the connection " + "x" * 3000)
    if payload.to == "big":
        return {"blob": "y" * 5000}
    logging.getLogger("test").info("sending")
    return {"status": "sent", "attempt": ctx.attempt, "key": ctx.idempotency_key}


def env(payload: Any, **extra: str) -> dict[str, str]:
    return {
        "BGJOB_PAYLOAD": payload if isinstance(payload, str) else json.dumps(payload),
        "BGJOB_NAME": "mail-1",
        "BGJOB_NAMESPACE": "app",
        "BGJOB_UID": "uid-1",
        "BGJOB_IDEMPOTENCY_KEY": "uid-1",
        "BGJOB_TYPE": "email",
        "BGJOB_ATTEMPT": "2",
        **extra,
    }


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "termination-log"


def test_success_writes_the_json_result(out: Path) -> None:
    code = run_handler(send, env=env({"to": "a@b.c", "subject": "Hi"}), termination_log=str(out))
    assert code == EXIT_OK
    assert json.loads(out.read_text()) == {"status": "sent", "attempt": 2, "key": "uid-1"}


def test_invalid_payload_is_permanent_and_names_the_field(out: Path) -> None:
    code = run_handler(send, env=env({"to": "a@b.c"}), termination_log=str(out))
    assert code == EXIT_PERMANENT
    assert out.read_text() == "payload.subject: Field required"


def test_payload_that_is_not_json_is_permanent(out: Path) -> None:
    assert run_handler(send, env=env("{oops"), termination_log=str(out)) == EXIT_PERMANENT
    assert "not valid JSON" in out.read_text()


def test_permanent_error_exits_3(out: Path) -> None:
    code = run_handler(send, env=env({"to": "nobody", "subject": "s"}), termination_log=str(out))
    assert code == EXIT_PERMANENT
    assert out.read_text() == "payload.to: no such mailbox"


def test_other_exceptions_are_retryable_with_a_short_message(out: Path) -> None:
    code = run_handler(send, env=env({"to": "flaky", "subject": "s"}), termination_log=str(out))
    assert code == EXIT_RETRY
    message = out.read_text()
    assert message.startswith("ConnectionError: smtp.example.org refused")
    assert len(message) <= 1024


def test_result_over_4_kib_fails_clearly_instead_of_being_cut(out: Path) -> None:
    code = run_handler(send, env=env({"to": "big", "subject": "s"}), termination_log=str(out))
    assert code == EXIT_PERMANENT
    assert "over the 4096-byte termination-message limit" in out.read_text()


def test_logs_never_contain_the_payload(out: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = {"to": "secret-person@example.org", "subject": "private matter"}
    for payload in (secret, {**secret, "to": "flaky"}, {"to": secret["to"]}):
        run_handler(send, env=env(payload), termination_log=str(out))
    assert "secret-person" not in caplog.text
    assert "private matter" not in caplog.text


def test_plain_functions_without_a_model_get_the_raw_payload(out: Path) -> None:
    def echo(payload: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return {"got": payload, "type": ctx.type}

    assert run_handler(echo, env=env({"a": 1}), termination_log=str(out)) == EXIT_OK
    assert json.loads(out.read_text()) == {"got": {"a": 1}, "type": "email"}


def test_local_runner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = tmp_path / "my_handler.py"
    module.write_text(
        "from bgjobs_handler import handler\n"
        "@handler\n"
        "def hello(payload, ctx):\n"
        "    return {'hello': payload['name'], 'attempt': ctx.attempt}\n"
    )
    code = local_main([f"{module}:hello", "--payload", '{"name": "ada"}', "--attempt", "3"])
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {"hello": "ada", "attempt": 3}


def stopped(payload: dict[str, Any], ctx: Context) -> None:
    raise Terminated  # what the SDK's SIGTERM handler raises inside the handler


@pytest.mark.parametrize(
    ("deadline_in", "says"),
    [
        (timedelta(seconds=-1), "deadline exceeded: the attempt's timeout passed"),
        (timedelta(seconds=1), "deadline exceeded"),  # within the slack: still the deadline
        (timedelta(minutes=5), "the pod was deleted or evicted"),
        (None, "the pod was deleted or evicted"),  # no deadline given: can't claim one
    ],
)
def test_sigterm_ends_the_attempt_cleanly_saying_why(
    out: Path, deadline_in: timedelta | None, says: str
) -> None:
    extra = {}
    if deadline_in is not None:
        deadline = datetime.now(UTC) + deadline_in
        extra["BGJOB_DEADLINE"] = deadline.strftime("%Y-%m-%dT%H:%M:%SZ")
    code = run_handler(stopped, env=env({}, **extra), termination_log=str(out))
    assert code == EXIT_TERMINATED == 143
    assert says in out.read_text()
    assert "SIGTERM" in out.read_text()


def test_a_handler_catching_exception_does_not_swallow_sigterm(out: Path) -> None:
    def careless(payload: dict[str, Any], ctx: Context) -> str:
        try:
            raise Terminated
        except Exception:  # the point: Terminated is not an Exception
            return "swallowed"

    assert run_handler(careless, env=env({}), termination_log=str(out)) == EXIT_TERMINATED


HANDLER_SCRIPT = """
import pathlib, sys, time
from bgjobs_handler import handler, run

@handler()
def wait(payload, ctx):
    pathlib.Path(sys.argv[1]).write_text("started")
    time.sleep(60)

run(wait)
"""


def test_a_real_sigterm_reaches_the_running_handler(tmp_path: Path) -> None:
    started, log = tmp_path / "started", tmp_path / "termination-log"
    script, stderr = tmp_path / "handler.py", tmp_path / "stderr"
    script.write_text(HANDLER_SCRIPT)
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(started)],
            env={**os.environ, **env({}), "BGJOB_TERMINATION_LOG": str(log)},
            stderr=err,
        )

    def handler_started() -> bool:  # the handler says it runs (and has not died)
        if started.exists():
            return True
        assert proc.poll() is None, stderr.read_text()
        return False

    try:
        eventually_sync(handler_started, within=30, interval=0.05, what="the handler to start")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == EXIT_TERMINATED
    finally:
        proc.kill()
        proc.wait()
    assert "stopped by SIGTERM" in log.read_text()


def test_a_sigterm_before_the_handler_starts_means_it_never_starts(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bgjobs_handler import runtime

    calls: list[str] = []
    monkeypatch.setattr(runtime._Sigterm, "received", True)  # arrived while reading the payload
    code = run_handler(lambda p, c: calls.append("ran"), env=env({}), termination_log=str(out))
    assert (code, calls) == (EXIT_TERMINATED, [])
    assert "stopped by SIGTERM" in out.read_text()


class Strict(Payload):
    count: int
    dry_run: bool = False
    at: datetime | None = None


@handler(payload=Strict)
def strict(payload: Strict, ctx: Context) -> dict[str, Any]:
    return {"count": payload.count, "dryRun": payload.dry_run, "at": payload.at}


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"count": "5"}, "payload.count: Input should be a valid integer"),
        ({"count": True}, "payload.count: Input should be a valid integer"),
        ({"count": 5.0}, "payload.count: Input should be a valid integer"),
        ({"count": 5, "dry_run": 1}, "payload.dry_run: Input should be a valid boolean"),
        ({"count": 5, "dry_run": "yes"}, "payload.dry_run: Input should be a valid boolean"),
        ({"count": 5, "at": 1700000000}, "payload.at: Input should be a valid datetime"),
        ({"count": 5, "extra": 1}, "payload.extra: Extra inputs are not permitted"),
    ],
)
def test_a_strict_payload_refuses_coercion(out: Path, payload: Any, says: str) -> None:
    assert run_handler(strict, env=env(payload), termination_log=str(out)) == EXIT_PERMANENT
    assert out.read_text() == says


def test_a_strict_payload_reads_json_forms(out: Path) -> None:
    payload = {"count": 5, "dry_run": True, "at": "2026-11-28T12:00:00Z"}
    assert run_handler(strict, env=env(payload), termination_log=str(out)) == EXIT_OK
    assert json.loads(out.read_text()) == {
        "count": 5,
        "dryRun": True,
        "at": "2026-11-28 12:00:00+00:00",
    }
