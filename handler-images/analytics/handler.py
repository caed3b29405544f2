"""analytics handler: record one event in PostgreSQL, exactly once per job.

Payload ``{eventType, userId?, data, timestamp?}``. The row's primary key is
the job's ``BGJOB_IDEMPOTENCY_KEY`` (the same on every attempt), and the
insert is ``ON CONFLICT DO NOTHING``: a retried attempt never records the
event twice. The table (``ANALYTICS_TABLE``, default ``analytics_events``) is
created if missing.

Settings: ``DATABASE_URL`` (``postgresql://user:pass@host:5432/db``) or the
libpq ``PG*`` variables; ``ANALYTICS_TABLE``. Connection problems are retried;
data the database refuses is a permanent failure. Result
``{status: recorded | duplicate, eventType}``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import ConfigDict, Field

from bgjobs_handler import Context, Payload, PermanentError, handler, run

TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class Event(Payload):
    model_config = ConfigDict(populate_by_name=True)

    event_type: str = Field(alias="eventType", min_length=1, max_length=100)
    user_id: str | int | None = Field(default=None, alias="userId")
    data: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None


def _table(env: Any) -> sql.Identifier:
    name = env.get("ANALYTICS_TABLE", "analytics_events")
    if not TABLE_NAME.match(name):
        raise PermanentError(f"ANALYTICS_TABLE {name!r} is not a plain lower-case table name")
    return sql.Identifier(name)


def _ensure_table(conn: psycopg.Connection[Any], table: sql.Identifier) -> None:
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " idempotency_key text PRIMARY KEY,"
            " event_type text NOT NULL,"
            " user_id text,"
            " data jsonb NOT NULL,"
            " occurred_at timestamptz NOT NULL,"
            " recorded_at timestamptz NOT NULL DEFAULT now(),"
            " job text NOT NULL)"
        ).format(table)
    )


@handler(payload=Event)
def record(payload: Event, ctx: Context) -> dict[str, Any]:
    if not ctx.idempotency_key:
        raise PermanentError("BGJOB_IDEMPOTENCY_KEY is empty: cannot record exactly once")
    table = _table(ctx.env)
    occurred = payload.timestamp or datetime.now(UTC)
    try:
        with psycopg.connect(ctx.env.get("DATABASE_URL", ""), connect_timeout=10) as conn:
            _ensure_table(conn, table)
            cur = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (idempotency_key, event_type, user_id, data, occurred_at, job)"
                    " VALUES (%s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (idempotency_key) DO NOTHING"
                ).format(table),
                (
                    ctx.idempotency_key,
                    payload.event_type,
                    None if payload.user_id is None else str(payload.user_id),
                    Jsonb(payload.data),
                    occurred,
                    f"{ctx.namespace}/{ctx.name}",
                ),
            )
            inserted = cur.rowcount == 1
    except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError) as exc:
        raise PermanentError(f"the database refused the event: {exc}") from exc
    return {"status": "recorded" if inserted else "duplicate", "eventType": payload.event_type}


if __name__ == "__main__":
    run(record)
