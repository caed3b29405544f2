"""Every verb's arguments, and the flags they share.

Each subcommand carries the coroutine that runs it (``set_defaults(func=...)``),
so ``main`` dispatches without a chain of ifs, and this one file shows the whole
command line. A verb's help is its coroutine's docstring: the summary line,
then examples. Parsing does no I/O: what needs it to be checked (a ``@file``
payload) is checked by the verb.
"""

from __future__ import annotations

import argparse
import inspect
import os
import textwrap

from bgjobs.cli import jobs, schedules, stats
from bgjobs.cli.session import Verb
from bgjobs.models.common import Phase, Priority
from bgjobs.vocabulary import DEFAULT_REDIS_PREFIX

PHASES = [p.value.lower() for p in Phase]
PRIORITIES = [p.value for p in Priority]
PRIORITIES_HIGH_FIRST = [p.value.lower() for p in reversed(Priority)]
TRUE = ("1", "true", "yes", "on")


def _all_namespaces(p: argparse.ArgumentParser) -> None:
    p.add_argument("-A", "--all-namespaces", action="store_true")


def _output(p: argparse.ArgumentParser, default: str, *others: str) -> None:
    p.add_argument("-o", "--output", choices=[default, *others], default=default)


def build_parser(epilog: str | None = None) -> argparse.ArgumentParser:
    """The ``kubectl bgjobs`` parser; ``epilog`` closes the top-level help."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    common.add_argument("--context", help="kubeconfig context")

    parser = argparse.ArgumentParser(
        prog="kubectl bgjobs",
        description="Manage bgjobs BackgroundJobs and JobSchedules.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=epilog,
    )
    parser.set_defaults(func=None)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, func: Verb) -> argparse.ArgumentParser:
        help_, _, examples = inspect.cleandoc(func.__doc__ or "").partition("\n\n")
        p = sub.add_parser(
            name,
            parents=[common],
            help=help_,
            description=help_,
            epilog="examples:\n" + textwrap.indent(examples, "  "),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = verb("list", jobs.cmd_list)
    _all_namespaces(p)
    p.add_argument("--type")
    p.add_argument("--phase", choices=PHASES, type=str.lower)
    p.add_argument("--priority", choices=PRIORITIES_HIGH_FIRST, type=str.lower)
    p.add_argument("-l", "--selector", help="label selector, e.g. team=growth")
    p.add_argument("--limit", type=int, help="at most this many (prints a continue token)")
    p.add_argument("--continue", dest="continue_token", help="token from a previous --limit")
    p.add_argument("--sort", choices=["created", "priority"], default="created")
    _output(p, "table", "wide", "json", "yaml")

    p = verb("get", jobs.cmd_get)
    p.add_argument("name")
    _output(p, "text", "json", "yaml")

    p = verb("enqueue", jobs.cmd_enqueue)
    p.add_argument("type")
    p.add_argument("--payload", default="{}", help="JSON object, or @file")
    p.add_argument("--priority", choices=PRIORITIES)
    when = p.add_mutually_exclusive_group()
    when.add_argument("--delay", help="not before now + this duration (30s, 5m, 1h)")
    when.add_argument("--at", help="not before this RFC 3339 time")
    p.add_argument("--retries", type=int, help="retryPolicy.maxRetries")
    p.add_argument("--timeout", help="per-attempt timeout (duration)")
    p.add_argument("--name", help="job name (default: <type>-<random>)")
    p.add_argument("--wait", action="store_true", help="wait for the outcome, print the result")
    p.add_argument("--wait-timeout", type=float, default=600.0, help="seconds (600)")

    p = verb("retry", jobs.cmd_retry)
    p.add_argument("name")
    p = verb("cancel", jobs.cmd_cancel)
    p.add_argument("name")
    p = verb("logs", jobs.cmd_logs)
    p.add_argument("name")
    p.add_argument("--attempt", type=int)
    p.add_argument("--tail", type=int, help="last N lines")

    p = verb("stats", stats.cmd_stats)
    _all_namespaces(p)
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BGJOBS_REDIS_URL"),
        help="Redis of the operator (BGJOBS_REDIS_URL); without it, no capacity",
    )
    p.add_argument(
        "--redis-prefix", default=os.environ.get("BGJOBS_REDIS_PREFIX", DEFAULT_REDIS_PREFIX)
    )
    p.add_argument(
        "--redis-cluster",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("BGJOBS_REDIS_CLUSTER", "").lower() in TRUE,
        help="--redis-url is one node of a Redis Cluster (BGJOBS_REDIS_CLUSTER=true)",
    )
    _output(p, "table", "json", "yaml")

    p = verb("schedules", schedules.cmd_schedules)
    _all_namespaces(p)
    p.add_argument("--next", type=int, default=1, help="how many next runs to show (1)")
    _output(p, "table", "json", "yaml")

    p = verb("run-now", schedules.cmd_run_now)
    p.add_argument("name")
    return parser
