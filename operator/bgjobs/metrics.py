"""Prometheus metrics of the operator (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ENQUEUED = Counter("bgjobs_jobs_enqueued", "BackgroundJobs queued for the first time", ["type"])
DISPATCHED = Counter("bgjobs_jobs_dispatched", "Attempts started (batch Jobs created)", ["type"])
COMPLETED = Counter("bgjobs_jobs_completed", "BackgroundJobs that reached Completed", ["type"])
FAILED = Counter("bgjobs_jobs_failed", "BackgroundJobs that reached Failed", ["type"])
RETRIED = Counter("bgjobs_jobs_retried", "Failed attempts scheduled for a retry", ["type"])
DURATION = Histogram(
    "bgjobs_job_duration_seconds",
    "Run time of one attempt, from dispatch to its outcome",
    ["type"],
    buckets=(0.1, 0.5, 1, 5, 10, 30, 60, 300, 600),
)
QUEUE_WAIT = Histogram(
    "bgjobs_queue_wait_seconds",
    "Time from queued (or due) to dispatched",
    ["type"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600),
)
QUEUE_DEPTH = Gauge(
    "bgjobs_queue_depth", "Jobs waiting in Redis (ready or delayed)", ["type", "priority"]
)
RUNNING = Gauge("bgjobs_running_jobs", "Attempts holding a dispatch slot", ["type"])
FREE_CAPACITY = Gauge(
    "bgjobs_dispatch_capacity_free", "Free global dispatch slots (-1 = unlimited)"
)
REDIS_UP = Gauge("bgjobs_redis_up", "1 when the operator reaches Redis")
SCHEDULE_LAG = Histogram(
    "bgjobs_schedule_lag_seconds",
    "From a JobSchedule slot to its BackgroundJob being created",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
INTERNAL_ERRORS = Counter(
    "bgjobs_internal_errors",
    "Exceptions that escaped a supervised loop of the operator, outages of the API "
    "server or Redis included (each restarts the loop)",
    ["loop"],
)
LEADING = Gauge(
    "bgjobs_leading",
    "1 while this replica dispatches and schedules (it holds the Lease, or runs alone)",
)
CACHED = Gauge(
    "bgjobs_cached_objects",
    "Objects held in memory between reconciles, by cache and form: whole (a live "
    "object, without managedFields) or summary (a finished BackgroundJob, or an attempt "
    "Job whose outcome is still to be recorded: the few fields read)",
    ["cache", "form"],
)
REPAIRS = Counter(
    "bgjobs_redis_repairs",
    "Differences between Redis and the BackgroundJobs found by a resync and repaired",
    ["kind"],
)
