"""Operator settings: built once, from the ``BGJOBS_*`` environment and then the
command-line flags (:meth:`Settings.from_env`, :meth:`Settings.with_flags`), and
handed to what needs them. Frozen: nothing changes them once the operator runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from bgjobs.vocabulary import DEFAULT_REDIS_PREFIX, check_prefix
from bgjobs.webhook import WebhookOptions


class SettingsError(ValueError):
    """A setting's value is unusable; the message names the variable."""


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())


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


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}: expected true or false, got {raw!r}")


def _env_seconds(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be more than 0 seconds, got {raw!r}")
    return value


#: Settings in seconds, each more than 0.
DURATIONS = (
    "lease_duration",
    "renew_deadline",
    "retry_period",
    "api_timeout",
    "redis_timeout",
    "resync_period",
    "unhealthy_after",
)


@dataclass(frozen=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: str | None = None
    redis_prefix: str = DEFAULT_REDIS_PREFIX
    #: Redis Sentinel: ``host:port`` of each sentinel, and the monitored
    #: master's name. When given, the master is found through them (and
    #: found again after a failover); ``redis_url`` then only names the db.
    redis_sentinels: tuple[str, ...] = ()
    redis_sentinel_master: str = "mymaster"
    #: The sentinels' own password, if they ask for one.
    redis_sentinel_password: str | None = None
    #: ``redis_url`` is one node of a Redis Cluster; the others are found from it.
    redis_cluster: bool = False
    #: ``namespace/name`` of the registry ConfigMap (key ``registry.yaml``).
    registry_configmap: str | None = None
    #: A registry file, for local runs (reloaded when it changes).
    registry_file: str | None = None
    #: Namespaces to watch; empty = the whole cluster.
    namespaces: tuple[str, ...] = ()
    metrics_port: int = 8080
    workers: int = 16
    kubeconfig: str | None = None
    #: ``namespace/name`` of a Lease: only its holder dispatches (several replicas).
    leader_elect: str | None = None
    #: Leader election timing, as client-go's: a standby takes a Lease that has
    #: not changed for ``lease_duration``; a leader that cannot renew within
    #: ``renew_deadline`` stops working; renewals are tried every ``retry_period``.
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    #: Deadline of one Kubernetes API request, and of one Redis command.
    api_timeout: float = 30.0
    redis_timeout: float = 10.0
    #: How often the leader compares Redis with the objects and repairs drift.
    resync_period: float = 60.0
    #: A Normal Event on every BackgroundJob transition (Queued, Dispatched,
    #: Completed...), each an API write; Warning ones are always recorded.
    transition_events: bool = False
    #: Keep the labels bgjobs.io/type, priority and phase in step with every
    #: transition (``kubectl get bgj -l bgjobs.io/phase=failed``), one write each.
    phase_labels: bool = False
    #: /healthz (liveness) and /readyz (readiness) port; 0 = off.
    health_port: int = 8081
    #: A supervised loop failing without a healthy pass for this long fails liveness.
    unhealthy_after: float = 60.0
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
            redis_sentinels=_env_list("BGJOBS_REDIS_SENTINELS"),
            redis_sentinel_master=env("BGJOBS_REDIS_SENTINEL_MASTER") or cls.redis_sentinel_master,
            redis_sentinel_password=env("BGJOBS_REDIS_SENTINEL_PASSWORD") or None,
            redis_cluster=_env_bool("BGJOBS_REDIS_CLUSTER", cls.redis_cluster),
            registry_configmap=env("BGJOBS_REGISTRY_CONFIGMAP") or None,
            registry_file=env("BGJOBS_REGISTRY_FILE") or None,
            namespaces=_env_list("BGJOBS_NAMESPACES"),
            metrics_port=_env_int("BGJOBS_METRICS_PORT", cls.metrics_port),
            workers=_env_int("BGJOBS_WORKERS", cls.workers),
            kubeconfig=env("KUBECONFIG") or None,
            leader_elect=env("BGJOBS_LEADER_ELECT") or None,
            lease_duration=_env_seconds("BGJOBS_LEASE_DURATION", cls.lease_duration),
            renew_deadline=_env_seconds("BGJOBS_RENEW_DEADLINE", cls.renew_deadline),
            retry_period=_env_seconds("BGJOBS_RETRY_PERIOD", cls.retry_period),
            api_timeout=_env_seconds("BGJOBS_API_TIMEOUT", cls.api_timeout),
            redis_timeout=_env_seconds("BGJOBS_REDIS_TIMEOUT", cls.redis_timeout),
            resync_period=_env_seconds("BGJOBS_RESYNC_PERIOD", cls.resync_period),
            transition_events=_env_bool("BGJOBS_TRANSITION_EVENTS", cls.transition_events),
            phase_labels=_env_bool("BGJOBS_PHASE_LABELS", cls.phase_labels),
            health_port=_env_int("BGJOBS_HEALTH_PORT", cls.health_port),
            unhealthy_after=_env_seconds("BGJOBS_UNHEALTHY_AFTER", cls.unhealthy_after),
            webhook_port=_env_int("BGJOBS_WEBHOOK_PORT", cls.webhook_port),
            webhook_addr=env("BGJOBS_WEBHOOK_ADDR", cls.webhook_addr),
            webhook_host=env("BGJOBS_WEBHOOK_HOST") or None,
            webhook_cert=env("BGJOBS_WEBHOOK_CERT") or None,
            webhook_key=env("BGJOBS_WEBHOOK_KEY") or None,
            webhook_ca=env("BGJOBS_WEBHOOK_CA") or None,
            webhook_manage=env("BGJOBS_WEBHOOK_MANAGE") or None,
        )

    def with_flags(self, args: argparse.Namespace) -> Settings:
        """These settings with the flags given on the command line (each flag's
        destination is the setting's name; a flag not given leaves it)."""
        given = {
            f.name: getattr(args, f.name)
            for f in dataclasses.fields(self)
            if getattr(args, f.name, None) is not None
        }
        for name in ("namespaces", "redis_sentinels"):  # repeatable flags: lists
            if name in given:
                given[name] = tuple(given[name])
        if getattr(args, "all_namespaces", False):
            given["namespaces"] = ()
        return dataclasses.replace(self, **given)

    def webhook(self) -> WebhookOptions | None:
        """The admission webhook's options; None when it is off."""
        if not self.webhook_port:
            return None
        # Each option is the setting named webhook_<option>.
        names = (f.name for f in dataclasses.fields(WebhookOptions))
        return WebhookOptions(**{name: getattr(self, f"webhook_{name}") for name in names})

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        out = []
        for item in self.redis_sentinels:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit():
                raise SettingsError(f"BGJOBS_REDIS_SENTINELS: expected host:port, got {item!r}")
            out.append((host, int(port)))
        return out

    def check(self) -> None:
        """Refuse combinations that cannot work; the message names the settings."""
        if self.sentinel_addresses() and self.redis_cluster:
            raise SettingsError(
                "--redis-sentinel (BGJOBS_REDIS_SENTINELS) and --redis-cluster "
                "(BGJOBS_REDIS_CLUSTER): choose one; a Redis Cluster fails over by itself"
            )
        db = urlsplit(self.redis_url).path.strip("/")
        if self.redis_cluster and db not in ("", "0"):
            raise SettingsError(
                f"--redis-url (BGJOBS_REDIS_URL) names database {db}: a Redis Cluster "
                "has only database 0 (give each installation its own --redis-prefix)"
            )
        problem = check_prefix(self.redis_prefix)
        if problem:
            raise SettingsError(
                f"--redis-prefix (BGJOBS_REDIS_PREFIX) {self.redis_prefix!r}: {problem}"
            )
        for name in DURATIONS:
            value = getattr(self, name)
            if value <= 0:
                flag, var = "--" + name.replace("_", "-"), "BGJOBS_" + name.upper()
                raise SettingsError(f"{flag} ({var}): must be more than 0 seconds, got {value:g}")
        if not (self.registry_file or self.registry_configmap):
            raise SettingsError(
                "no registry: give --registry-configmap NAMESPACE/NAME "
                "(BGJOBS_REGISTRY_CONFIGMAP) or --registry-file (BGJOBS_REGISTRY_FILE)"
            )
        if not self.retry_period < self.renew_deadline < self.lease_duration:
            raise SettingsError(
                "leader election needs retry period < renew deadline < lease duration "
                f"(--retry-period/BGJOBS_RETRY_PERIOD {self.retry_period:g}s, "
                f"--renew-deadline/BGJOBS_RENEW_DEADLINE {self.renew_deadline:g}s, "
                f"--lease-duration/BGJOBS_LEASE_DURATION {self.lease_duration:g}s)"
            )
