"""The analytics handler against a real PostgreSQL: a retried attempt records once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.handlers import attempt, load_handler
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import free_port

record = load_handler("analytics").record


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT event_type, user_id, data, job FROM analytics_events ORDER BY recorded_at"
        ).fetchall()


def test_a_retried_attempt_records_the_event_once(postgres: PostgresServer, tmp_path: Path) -> None:
    payload = {
        "eventType": "signup",
        "userId": 42,
        "data": {"plan": "free"},
        "timestamp": "2026-11-28T12:00:00Z",
    }
    env = {"DATABASE_URL": postgres.url}

    first = attempt(record, payload, tmp_path, env=env, attempt=1, uid="key-1")
    second = attempt(record, payload, tmp_path, env=env, attempt=2, uid="key-1")
    other = attempt(record, payload, tmp_path, env=env, attempt=1, uid="key-2")

    assert first[0] == second[0] == other[0] == 0
    assert json.loads(first[1]) == {"status": "recorded", "eventType": "signup"}
    assert json.loads(second[1])["status"] == "duplicate"
    assert rows(postgres.url) == [
        ("signup", "42", {"plan": "free"}, "app/job-1"),
        ("signup", "42", {"plan": "free"}, "app/job-1"),
    ]


def test_bad_input_is_permanent(postgres: PostgresServer, tmp_path: Path) -> None:
    env = {"DATABASE_URL": postgres.url}
    code, out = attempt(record, {"eventType": "x", "timestamp": "yesterday"}, tmp_path, env=env)
    assert code == 3
    assert "payload.timestamp" in out
    code, out = attempt(record, {"data": {}}, tmp_path, env=env)
    assert (code, "payload.eventType" in out) == (3, True)
    bad_table = {**env, "ANALYTICS_TABLE": "events; drop table x"}
    assert attempt(record, {"eventType": "x"}, tmp_path, env=bad_table)[0] == 3


def test_database_down_is_retryable(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"}
    code, out = attempt(record, {"eventType": "x"}, tmp_path, env=env, uid="key-9")
    assert code == 1
    assert "OperationalError" in out


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"eventType": "x", "userId": True}, "payload.userId"),  # not user 1
        ({"eventType": "x", "userId": 4.0}, "payload.userId"),
        ({"eventType": "x", "timestamp": 1700000000}, "payload.timestamp"),  # ISO 8601 only
        ({"eventType": 7}, "payload.eventType"),
        ({"eventType": "x", "data": "{}"}, "payload.data"),
    ],
)
def test_no_silent_coercion(tmp_path: Path, payload: dict[str, Any], field: str) -> None:
    code, out = attempt(record, payload, tmp_path, env={"DATABASE_URL": "postgresql://unused"})
    assert (code, out.startswith(field)) == (3, True), out
