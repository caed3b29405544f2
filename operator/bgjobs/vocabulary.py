"""Every name bgjobs writes into the cluster and into Redis, in one place.

The API group, annotations, labels, finalizers, condition types and Redis
keys are part of the contract (``docs/api.md``): users select on them, older
and newer operators read them. A literal of one of them anywhere else in the
package is a bug (``tests/unit/test_vocabulary.py`` looks for them).
"""

from __future__ import annotations

from dataclasses import dataclass

API_GROUP = "bgjobs.io"
API_VERSION = "v1alpha1"

# Annotations -------------------------------------------------------------------------
#: On a BackgroundJob: a new value sends a Failed job back to the queue.
RETRY_ANNOTATION = f"{API_GROUP}/retry"
#: On a JobSchedule: a new value asks for one run now.
RUN_NOW_ANNOTATION = f"{API_GROUP}/run-now"
#: On a JobSchedule's BackgroundJob: the slot it was created for.
SCHEDULED_TIME_ANNOTATION = f"{API_GROUP}/scheduled-time"
#: Marks the operator's in-memory summary of a finished job; never written.
SUMMARY_MARK = f"{API_GROUP}/summary"

# Labels --------------------------------------------------------------------------------
#: On attempt Jobs (and, with --phase-labels, on BackgroundJobs): the handler type.
LABEL_TYPE = f"{API_GROUP}/type"
#: With --phase-labels, on BackgroundJobs: the effective priority and the phase,
#: in lower case.
LABEL_PRIORITY = f"{API_GROUP}/priority"
LABEL_PHASE = f"{API_GROUP}/phase"
PHASE_LABELS = (LABEL_TYPE, LABEL_PRIORITY, LABEL_PHASE)
#: On attempt Jobs: their BackgroundJob's name (cut, see :func:`label_value`),
#: and the attempt number.
LABEL_JOB = f"{API_GROUP}/job"
LABEL_ATTEMPT = f"{API_GROUP}/attempt"
#: On a JobSchedule's BackgroundJobs: the schedule's name (cut).
LABEL_SCHEDULE = f"{API_GROUP}/schedule"
#: On attempt Jobs: what the operator watches (a server-side label selector).
MANAGED_BY = {"app.kubernetes.io/managed-by": "bgjobs"}


def label_value(value: str) -> str:
    """``value`` cut to what a label value may hold (63 characters, ending alphanumeric)."""
    return value[:63].rstrip("-._")


# Finalizers ----------------------------------------------------------------------------
#: On attempt Jobs until their outcome is written onto the BackgroundJob.
OUTCOME_FINALIZER = f"{API_GROUP}/outcome"

# Condition types -----------------------------------------------------------------------
#: A BackgroundJob's conditions, each True in its phases.
JOB_CONDITIONS = ("Queued", "Running", "Succeeded", "Failed")
#: A JobSchedule's one condition.
READY = "Ready"

# Redis ---------------------------------------------------------------------------------
DEFAULT_REDIS_PREFIX = "bgjobs:"


def check_prefix(prefix: str) -> str | None:
    """Why ``prefix`` can't be used for the Redis keys, or None."""
    if not prefix:
        return "must not be empty"
    if "{" in prefix or "}" in prefix:
        return "must not contain '{' or '}' (bgjobs makes it the Redis Cluster hash tag)"
    if any(c in prefix for c in "*?[]\\"):
        return "must not contain * ? [ ] or \\ (Redis would read them as a pattern)"
    return None


@dataclass(frozen=True)
class Keys:
    """Every Redis key bgjobs uses.

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
        <b>config          STRING the operator's dispatch settings (JSON), for `stats`

    A member is ``<namespace>/<name>`` of a BackgroundJob. ``<b>`` is the
    prefix (default ``bgjobs:``) made a hash tag, ``{bgjobs:}``: every key
    hashes to the same Redis Cluster slot, so one script may touch them all.
    The key names are fixed or built from a type, never from a member, so
    that each script is given every key it touches (the Lua scripts build none).
    """

    prefix: str = DEFAULT_REDIS_PREFIX

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
