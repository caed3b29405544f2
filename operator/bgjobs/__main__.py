"""Command line: ``bgjobs run`` (also ``python -m bgjobs run``) starts the operator."""

from __future__ import annotations

import argparse
import logging
import sys

from bgjobs import __version__
from bgjobs.settings import Settings, SettingsError
from bgjobs.vocabulary import API_GROUP, PHASE_LABELS

EXAMPLES = """\
examples:
  # against the local cluster, a registry file, a local Redis, one namespace
  bgjobs run --registry-file examples/registry.yaml -n default

  # in the cluster (what the Helm chart runs)
  bgjobs run --registry-configmap bgjobs/bgjobs-registry --all-namespaces --log-format json

  # Redis behind Sentinel, or a Redis Cluster (give any one node)
  bgjobs run ... --redis-sentinel s-0:26379 --redis-sentinel s-1:26379
  bgjobs run ... --redis-cluster --redis-url redis://node-0.redis:6379/0

A flag's environment variable, where it has one, is named in its help.
"""


def build_parser(env: Settings) -> argparse.ArgumentParser:
    """The command line; ``env`` (the settings from the environment) gives the defaults."""
    parser = argparse.ArgumentParser(
        prog="bgjobs",
        description="bgjobs: Kubernetes-native background jobs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bgjobs {__version__}")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser(
        "run",
        help="run the operator",
        description="Run the bgjobs operator (kopf) until interrupted.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--redis-url", default=env.redis_url, help="BGJOBS_REDIS_URL (%(default)s)")
    run.add_argument(
        "--redis-prefix", default=env.redis_prefix, help="BGJOBS_REDIS_PREFIX (%(default)s)"
    )
    run.add_argument(
        "--redis-sentinel",
        action="append",
        dest="redis_sentinels",
        default=None,
        metavar="HOST:PORT",
        help="find the Redis master through this sentinel (repeatable; "
        "BGJOBS_REDIS_SENTINELS, comma-separated; their password, if any: "
        "BGJOBS_REDIS_SENTINEL_PASSWORD)",
    )
    run.add_argument(
        "--redis-sentinel-master",
        default=env.redis_sentinel_master,
        metavar="NAME",
        help="the master's name in the sentinels; BGJOBS_REDIS_SENTINEL_MASTER (%(default)s)",
    )
    run.add_argument(
        "--redis-cluster",
        action=argparse.BooleanOptionalAction,
        default=env.redis_cluster,
        help="--redis-url is one node of a Redis Cluster (BGJOBS_REDIS_CLUSTER=true); "
        "every key bgjobs uses hashes to one slot",
    )
    src = run.add_mutually_exclusive_group()
    src.add_argument(
        "--registry-file", default=env.registry_file, help="BGJOBS_REGISTRY_FILE: registry YAML"
    )
    src.add_argument(
        "--registry-configmap",
        default=env.registry_configmap,
        metavar="NAMESPACE/NAME",
        help="BGJOBS_REGISTRY_CONFIGMAP: ConfigMap with key registry.yaml",
    )
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        dest="namespaces",
        default=None,
        help="watch this namespace (repeatable; BGJOBS_NAMESPACES, comma-separated)",
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    run.add_argument(
        "--metrics-port",
        type=int,
        default=env.metrics_port,
        help="BGJOBS_METRICS_PORT, 0 = off (%(default)s)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=env.workers,
        help="reconciles at once; BGJOBS_WORKERS (%(default)s)",
    )
    run.add_argument(
        "--health-port",
        type=int,
        default=env.health_port,
        help="serve /healthz (liveness) and /readyz (readiness) here, 0 = off; "
        "BGJOBS_HEALTH_PORT (%(default)s)",
    )
    run.add_argument(
        "--unhealthy-after",
        type=float,
        default=env.unhealthy_after,
        metavar="SECONDS",
        help="a loop failing with bugs (not API or Redis outages) this long without a "
        "good pass fails /healthz; BGJOBS_UNHEALTHY_AFTER (%(default)s)",
    )
    run.add_argument(
        "--api-timeout",
        type=float,
        default=env.api_timeout,
        metavar="SECONDS",
        help="deadline of one Kubernetes API request; BGJOBS_API_TIMEOUT (%(default)s)",
    )
    run.add_argument(
        "--redis-timeout",
        type=float,
        default=env.redis_timeout,
        metavar="SECONDS",
        help="deadline of one Redis command; BGJOBS_REDIS_TIMEOUT (%(default)s)",
    )
    run.add_argument(
        "--resync-period",
        type=float,
        default=env.resync_period,
        metavar="SECONDS",
        help="compare Redis with the objects and repair drift this often; "
        "BGJOBS_RESYNC_PERIOD (%(default)s)",
    )
    run.add_argument(
        "--transition-events",
        action=argparse.BooleanOptionalAction,
        default=env.transition_events,
        help="a Normal Event on every job transition, one API write each (Warnings are "
        "always recorded; status.conditions keep every transition); "
        "BGJOBS_TRANSITION_EVENTS (%(default)s)",
    )
    run.add_argument(
        "--phase-labels",
        action=argparse.BooleanOptionalAction,
        default=env.phase_labels,
        help=f"keep the labels {', '.join(PHASE_LABELS)} in "
        "step with every transition, one API write each (field selectors on spec.type, "
        "status.priority and status.phase need none); BGJOBS_PHASE_LABELS (%(default)s)",
    )
    lead = run.add_argument_group("leader election (several replicas)")
    lead.add_argument(
        "--leader-elect",
        default=env.leader_elect,
        metavar="NAMESPACE/NAME",
        help="only the holder of this Lease dispatches and schedules; BGJOBS_LEADER_ELECT",
    )
    lead.add_argument(
        "--lease-duration",
        type=float,
        default=env.lease_duration,
        metavar="SECONDS",
        help="a standby takes a Lease unchanged this long; BGJOBS_LEASE_DURATION (%(default)s)",
    )
    lead.add_argument(
        "--renew-deadline",
        type=float,
        default=env.renew_deadline,
        metavar="SECONDS",
        help="a leader that cannot renew this long stops; BGJOBS_RENEW_DEADLINE (%(default)s)",
    )
    lead.add_argument(
        "--retry-period",
        type=float,
        default=env.retry_period,
        metavar="SECONDS",
        help="time between renewals and acquire attempts; BGJOBS_RETRY_PERIOD (%(default)s)",
    )
    hook = run.add_argument_group("admission webhook (off unless --webhook-port)")
    hook.add_argument(
        "--webhook-port",
        type=int,
        default=env.webhook_port,
        help="serve the validating webhook on this port (BGJOBS_WEBHOOK_PORT)",
    )
    hook.add_argument(
        "--webhook-addr", default=env.webhook_addr, help="listen address; BGJOBS_WEBHOOK_ADDR"
    )
    hook.add_argument(
        "--webhook-host",
        default=env.webhook_host,
        help="host name or IP the API server calls (default: --webhook-addr); BGJOBS_WEBHOOK_HOST",
    )
    hook.add_argument(
        "--webhook-cert", default=env.webhook_cert, help="TLS certificate file; BGJOBS_WEBHOOK_CERT"
    )
    hook.add_argument(
        "--webhook-key", default=env.webhook_key, help="TLS key file; BGJOBS_WEBHOOK_KEY"
    )
    hook.add_argument(
        "--webhook-ca",
        default=env.webhook_ca,
        help="CA bundle file for the config; BGJOBS_WEBHOOK_CA",
    )
    hook.add_argument(
        "--webhook-manage",
        default=env.webhook_manage,
        metavar="NAME",
        help="let the operator create/patch ValidatingWebhookConfiguration NAME (a dotted "
        f"domain, e.g. webhooks.{API_GROUP}); BGJOBS_WEBHOOK_MANAGE",
    )
    run.add_argument("--log-format", choices=["plain", "json"], default="plain")
    run.add_argument("-v", "--verbose", action="store_true")
    return parser


def run(settings: Settings, args: argparse.Namespace) -> int:
    import kopf

    from bgjobs.handlers import kopf_app

    settings.check()
    if settings.webhook_port:  # kopf refuses admission handlers without a server
        from bgjobs.handlers import admission  # noqa: F401
    kopf.configure(
        verbose=args.verbose,
        log_format=kopf.LogFormat.JSON if args.log_format == "json" else kopf.LogFormat.PLAIN,
    )
    logging.getLogger("bgjobs").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    if not args.verbose:  # one line per handled watch event, or per probe, is noise
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    kopf.run(
        # One election mechanism: our Lease (--leader-elect), which fences the
        # dispatcher. kopf's peering would only pause kopf's own handlers.
        standalone=True,
        namespaces=list(settings.namespaces),
        clusterwide=not settings.namespaces,
        memo=kopf_app.memo_for(settings),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        env = Settings.from_env()
        args = build_parser(env).parse_args(argv)
        if args.command != "run":
            build_parser(env).print_help()
            return 2
        return run(env.with_flags(args), args)
    except SettingsError as exc:
        print(f"bgjobs: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
