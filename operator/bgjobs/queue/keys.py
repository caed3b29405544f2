"""Every Redis key bgjobs uses, in one place.

    <p>ready:<type>    ZSET  member → priority score (lower runs first)
    <p>types           SET   types that may have ready members
    <p>delayed         ZSET  member → due time, ms (runAt, delay, retry backoff)
    <p>running         SET   members holding a dispatch slot (global cap)
    <p>running:<type>  SET   the same, per type (per-type cap)
    <p>meta:<member>   HASH  type, priority, score, dispatchedAt
    <p>expiry          ZSET  member → delete-at time, ms (ttlAfterFinished)
    <p>epoch           STRING set by a rebuild; missing = Redis lost its data
    <p>config          STRING the operator's dispatch settings (JSON), for `kubectl bgjobs stats`

A member is ``<namespace>/<name>`` of a BackgroundJob. The default prefix is
``bgjobs:``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    prefix: str = "bgjobs:"

    def ready(self, job_type: str) -> str:
        return f"{self.prefix}ready:{job_type}"

    @property
    def types(self) -> str:
        return f"{self.prefix}types"

    @property
    def delayed(self) -> str:
        return f"{self.prefix}delayed"

    @property
    def running(self) -> str:
        return f"{self.prefix}running"

    def running_of(self, job_type: str) -> str:
        return f"{self.prefix}running:{job_type}"

    def meta(self, member: str) -> str:
        return f"{self.prefix}meta:{member}"

    @property
    def expiry(self) -> str:
        return f"{self.prefix}expiry"

    @property
    def epoch(self) -> str:
        return f"{self.prefix}epoch"

    @property
    def config(self) -> str:
        return f"{self.prefix}config"
