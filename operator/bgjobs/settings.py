"""Operator settings, from command-line flags and ``BGJOBS_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


class SettingsError(ValueError):
    """A setting's value is unusable; the message names the variable."""


def _env_list(name: str) -> list[str]:
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        hint = ""
        if raw.startswith("tcp://"):
            # Kubernetes' service links: a Service named like the variable
            # (e.g. bgjobs-metrics -> BGJOBS_METRICS_PORT) in the pod's namespace.
            hint = " (a Service link: set enableServiceLinks: false on the pod)"
        raise SettingsError(f"{name}: expected a whole number, got {raw!r}{hint}") from None


@dataclass
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: str | None = None
    redis_prefix: str = "bgjobs:"
    #: ``namespace/name`` of the registry ConfigMap (key ``registry.yaml``).
    registry_configmap: str | None = None
    #: A registry file, for local runs (reloaded when it changes).
    registry_file: str | None = None
    #: Namespaces to watch; empty = the whole cluster.
    namespaces: list[str] = field(default_factory=list)
    metrics_port: int = 8080
    workers: int = 16
    kubeconfig: str | None = None
    #: ``namespace/name`` of a Lease: only its holder dispatches (several replicas).
    leader_elect: str | None = None
    #: Admission webhook (0 = off); see bgjobs.webhook.
    webhook_port: int = 0
    webhook_addr: str = "0.0.0.0"
    webhook_host: str | None = None
    webhook_cert: str | None = None
    webhook_key: str | None = None
    webhook_ca: str | None = None
    webhook_manage: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ.get
        return cls(
            redis_url=env("BGJOBS_REDIS_URL", cls.redis_url),
            redis_password=env("BGJOBS_REDIS_PASSWORD") or None,
            redis_prefix=env("BGJOBS_REDIS_PREFIX", cls.redis_prefix),
            registry_configmap=env("BGJOBS_REGISTRY_CONFIGMAP") or None,
            registry_file=env("BGJOBS_REGISTRY_FILE") or None,
            namespaces=_env_list("BGJOBS_NAMESPACES"),
            metrics_port=_env_int("BGJOBS_METRICS_PORT", cls.metrics_port),
            workers=_env_int("BGJOBS_WORKERS", cls.workers),
            kubeconfig=env("KUBECONFIG") or None,
            leader_elect=env("BGJOBS_LEADER_ELECT") or None,
            webhook_port=_env_int("BGJOBS_WEBHOOK_PORT", 0),
            webhook_addr=env("BGJOBS_WEBHOOK_ADDR", "0.0.0.0"),
            webhook_host=env("BGJOBS_WEBHOOK_HOST") or None,
            webhook_cert=env("BGJOBS_WEBHOOK_CERT") or None,
            webhook_key=env("BGJOBS_WEBHOOK_KEY") or None,
            webhook_ca=env("BGJOBS_WEBHOOK_CA") or None,
            webhook_manage=env("BGJOBS_WEBHOOK_MANAGE") or None,
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes :meth:`from_env` return these settings."""
        out = {
            "BGJOBS_REDIS_URL": self.redis_url,
            "BGJOBS_REDIS_PREFIX": self.redis_prefix,
            "BGJOBS_NAMESPACES": ",".join(self.namespaces),
            "BGJOBS_METRICS_PORT": str(self.metrics_port),
            "BGJOBS_WORKERS": str(self.workers),
        }
        for key, value in (
            ("BGJOBS_REDIS_PASSWORD", self.redis_password),
            ("BGJOBS_REGISTRY_CONFIGMAP", self.registry_configmap),
            ("BGJOBS_REGISTRY_FILE", self.registry_file),
            ("KUBECONFIG", self.kubeconfig),
        ):
            if value:
                out[key] = value
        return out
