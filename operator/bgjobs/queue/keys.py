"""Every Redis key bgjobs uses, in one place.

    <b>ready:<type>    ZSET  member → priority score (lower runs first)
    <b>types           SET   types that may have ready members
    <b>delayed         ZSET  member → due time, ms (runAt, delay, retry backoff)
    <b>running         SET   members holding a dispatch slot (global cap)
    <b>running:<type>  SET   the same, per type (per-type cap)
    <b>type            HASH  member → its type
    <b>priority        HASH  member → its priority
    <b>score           HASH  member → its queue score
    <b>dispatched      HASH  member → when it took its slot, ms
    <b>expiry          ZSET  member → delete-at time, ms (ttlAfterFinished)
    <b>epoch           STRING set by a rebuild; missing = Redis lost its data
    <b>config          STRING the operator's dispatch settings (JSON), for `kubectl bgjobs stats`

A member is ``<namespace>/<name>`` of a BackgroundJob. ``<b>`` is the prefix
(default ``bgjobs:``) made a hash tag, ``{bgjobs:}``: every key hashes to
the same Redis Cluster slot, so one script may touch them all. The key names
are fixed or built from a type, never from a member, so that each script is
given every key it touches.
"""

from __future__ import annotations

from dataclasses import dataclass


def check_prefix(prefix: str) -> str | None:
    """Why ``prefix`` can't be used for the keys, or None."""
    if not prefix:
        return "must not be empty"
    if "{" in prefix or "}" in prefix:
        return "must not contain '{' or '}' (bgjobs makes it the Redis Cluster hash tag)"
    if any(c in prefix for c in "*?[]\\"):
        return "must not contain * ? [ ] or \\ (Redis would read them as a pattern)"
    return None


@dataclass(frozen=True)
class Keys:
    prefix: str = "bgjobs:"

    def __post_init__(self) -> None:
        problem = check_prefix(self.prefix)
        if problem:
            raise ValueError(f"Redis key prefix {self.prefix!r} {problem}")

    @property
    def base(self) -> str:
        """What every key starts with: the prefix, whole, as a hash tag."""
        return "{" + self.prefix + "}"

    def ready(self, job_type: str) -> str:
        return f"{self.base}ready:{job_type}"

    @property
    def types(self) -> str:
        return f"{self.base}types"

    @property
    def delayed(self) -> str:
        return f"{self.base}delayed"

    @property
    def running(self) -> str:
        return f"{self.base}running"

    def running_of(self, job_type: str) -> str:
        return f"{self.base}running:{job_type}"

    @property
    def type_of(self) -> str:
        return f"{self.base}type"

    @property
    def priority_of(self) -> str:
        return f"{self.base}priority"

    @property
    def score_of(self) -> str:
        return f"{self.base}score"

    @property
    def dispatched_at(self) -> str:
        return f"{self.base}dispatched"

    @property
    def expiry(self) -> str:
        return f"{self.base}expiry"

    @property
    def epoch(self) -> str:
        return f"{self.base}epoch"

    @property
    def config(self) -> str:
        return f"{self.base}config"
