"""The handler registry: which image runs each job type, with which defaults.

Rendered by the Helm chart into a ConfigMap (key ``registry.yaml``) and read
by the operator, or read from a file for local runs. Example::

    maxConcurrentJobs: 20
    priorityAging: 0s
    handlers:
      email:
        image: registry.example/bgjobs/handler-email:0.1.0
        timeout: 30s
        priority: Normal
        concurrency: 10
        retryPolicy: {maxRetries: 3, initialDelay: 30s, maxDelay: 10m, backoffFactor: 2.0}
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import yaml
from pydantic import Field, ValidationError, field_validator

from bgjobs.models.backgroundjob import RetryPolicy
from bgjobs.models.common import TYPE_PATTERN, CamelModel, Duration, Priority
from bgjobs.models.durations import parse_duration

DEFAULT_TIMEOUT = "10m"
DEFAULT_RETRY = RetryPolicy(max_retries=3, initial_delay="30s", max_delay="10m", backoff_factor=2.0)
DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024
DEFAULT_RETENTION = "168h"


class HandlerConfig(CamelModel):
    """How to run one job type."""

    image: str = Field(min_length=1)
    timeout: Duration | None = None
    priority: Priority | None = None
    concurrency: int = Field(default=0, ge=0, description="0 = only the global cap")
    retry_policy: RetryPolicy | None = None
    env: list[dict[str, Any]] = Field(default_factory=list)
    env_from: list[dict[str, Any]] = Field(default_factory=list)
    resources: dict[str, Any] = Field(default_factory=dict)
    service_account_name: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    image_pull_policy: str | None = None
    pod_labels: dict[str, str] = Field(default_factory=dict)
    pod_annotations: dict[str, str] = Field(default_factory=dict)
    pod_security_context: dict[str, Any] | None = Field(
        default=None, description="replaces the default pod securityContext (restricted)"
    )
    security_context: dict[str, Any] | None = Field(
        default=None, description="replaces the default container securityContext (restricted)"
    )
    automount_service_account_token: bool | None = Field(
        default=None, description="default: only when serviceAccountName is set"
    )
    ttl_after_finished: Duration | None = Field(
        default=None, description="keep this type's finished jobs this long; 0s = for ever"
    )


class Registry(CamelModel):
    """The whole registry document."""

    max_concurrent_jobs: int = Field(default=10, ge=0, description="0 = unlimited")
    priority_aging: Duration = "0s"
    max_payload_bytes: int = Field(default=DEFAULT_MAX_PAYLOAD_BYTES, ge=1)
    ttl_after_finished: Duration = Field(
        default=DEFAULT_RETENTION,
        description="finished BackgroundJobs (and their attempt Jobs) are deleted this long "
        "after they finish, unless the job or its type says otherwise; 0s = keep them",
    )
    handlers: dict[str, HandlerConfig] = Field(default_factory=dict)

    @field_validator("handlers")
    @classmethod
    def _type_names(cls, value: dict[str, HandlerConfig]) -> dict[str, HandlerConfig]:
        import re

        for name in value:
            if not re.match(TYPE_PATTERN, name):
                raise ValueError(f"handler type {name!r} must match {TYPE_PATTERN}")
        return value

    @property
    def aging(self) -> timedelta:
        return parse_duration(self.priority_aging)

    def caps(self) -> dict[str, int]:
        """Per-type concurrency caps (0 = only the global cap)."""
        return {name: h.concurrency for name, h in self.handlers.items()}


class RegistryError(ValueError):
    """The registry document is not valid; the message names the field."""


def parse_registry(text: str, source: str = "registry") -> Registry:
    """Parse a registry YAML/JSON document, with errors that name the field."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise RegistryError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise RegistryError(f"{source}: expected a mapping at the top level")
    try:
        return Registry.model_validate(data)
    except ValidationError as exc:
        raise RegistryError(f"{source}: {format_errors(exc)}") from exc


def format_errors(exc: ValidationError, prefix: str = "") -> str:
    """``field.path: message; ...`` for a pydantic error, camelCase paths."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        path = f"{prefix}{loc}" if loc else prefix.rstrip(".") or "(root)"
        parts.append(f"{path}: {err['msg']}")
    return "; ".join(parts)
