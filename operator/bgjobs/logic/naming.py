"""Deterministic names: the same input always gives the same object name.

Determinism is what makes the operator idempotent: creating an attempt's Job
twice yields 409 AlreadyExists, which counts as success.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

MAX_JOB_NAME = 63  # a Job's name becomes a label value on its pods


def attempt_job_name(job: str, attempt: int) -> str:
    """``<job>-a<attempt>``, shortened with a hash when over 63 characters."""
    suffix = f"-a{attempt}"
    name = job + suffix
    if len(name) <= MAX_JOB_NAME:
        return name
    digest = hashlib.sha256(job.encode()).hexdigest()[:8]
    keep = MAX_JOB_NAME - len(suffix) - len(digest) - 1
    return f"{job[:keep].rstrip('-.')}-{digest}{suffix}"


def slot_job_name(schedule: str, slot: datetime) -> str:
    """``<schedule>-<unix seconds of the slot>``: one name per slot, on every replica."""
    return f"{schedule}-{int(slot.timestamp())}"


def run_now_job_name(schedule: str, token: str) -> str:
    """One job per distinct ``bgjobs.io/run-now`` value."""
    return f"{schedule}-now-{hashlib.sha256(token.encode()).hexdigest()[:8]}"


def queue_member(namespace: str, name: str) -> str:
    """The Redis member that stands for one BackgroundJob."""
    return f"{namespace}/{name}"


def split_member(member: str) -> tuple[str, str]:
    namespace, _, name = member.partition("/")
    return namespace, name
