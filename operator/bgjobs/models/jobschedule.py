"""The JobSchedule custom resource: BackgroundJobs from a template, on a cron schedule."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import ConfigDict, Field

from bgjobs.models.backgroundjob import JobSpecBase
from bgjobs.models.common import CamelModel, Condition
from bgjobs.vocabulary import RUN_NOW_ANNOTATION

KIND = "JobSchedule"
PLURAL = "jobschedules"
SINGULAR = "jobschedule"
SHORT_NAMES = ["jobsched"]


class ConcurrencyPolicy(StrEnum):
    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"


class TemplateMetadata(CamelModel):
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class JobTemplate(CamelModel):
    metadata: TemplateMetadata = Field(default_factory=TemplateMetadata)
    spec: JobSpecBase


class JobScheduleSpec(CamelModel):
    schedule: str = Field(
        min_length=1,
        max_length=128,
        description="5-field cron, @hourly/@daily/@weekly/@monthly/@yearly, or @every <duration>.",
    )
    time_zone: str = Field(
        default="UTC",
        max_length=64,
        pattern=r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$",
        description="IANA time zone name, e.g. Europe/Berlin.",
    )
    suspend: bool = Field(default=False, description="true: no new runs.")
    max_runs: int = Field(default=0, ge=0, description="0 = unlimited.")
    concurrency_policy: ConcurrencyPolicy = Field(
        default=ConcurrencyPolicy.ALLOW, description="Allow, Forbid (skip while one runs), Replace."
    )
    starting_deadline_seconds: int | None = Field(
        default=None, ge=0, description="A run missed by more than this is skipped."
    )
    successful_jobs_history_limit: int = Field(default=3, ge=0, description="Completed jobs kept.")
    failed_jobs_history_limit: int = Field(
        default=1, ge=0, description="Failed or Cancelled jobs kept."
    )
    job_template: JobTemplate = Field(description="Metadata and spec of the jobs created.")


class ActiveJob(CamelModel):
    model_config = ConfigDict(extra="ignore")
    name: str


class JobScheduleStatus(CamelModel):
    model_config = ConfigDict(extra="ignore")

    last_schedule_time: datetime | None = Field(default=None, description="Newest slot handled.")
    next_schedule_time: datetime | None = Field(default=None, description="Next slot.")
    last_successful_time: datetime | None = Field(
        default=None, description="When a created job last completed."
    )
    run_count: int = Field(default=0, ge=0, description="Jobs created (slots and run-now).")
    active: list[ActiveJob] = Field(default_factory=list, description="Unfinished jobs.")
    conditions: list[Condition] = Field(default_factory=list)
    observed_generation: int | None = None
    handled_run_now: str | None = Field(
        default=None, description=f"The {RUN_NOW_ANNOTATION} annotation value last acted on."
    )
