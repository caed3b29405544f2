"""The plugin's command line, without a cluster: every verb parses to its coroutine,
shared flags reach every verb, and a bad value names its flag (exit 2)."""

from __future__ import annotations

from typing import Any

import pytest

from bgjobs.cli import jobs, schedules, stats
from bgjobs.cli.main import main
from bgjobs.cli.parser import build_parser
from bgjobs.cli.session import Verb

VERBS: list[tuple[list[str], Verb, dict[str, Any]]] = [
    (
        ["list"],
        jobs.cmd_list,
        {"all_namespaces": False, "phase": None, "sort": "created", "output": "table"},
    ),
    (
        ["list", "-A", "--phase", "FAILED", "--priority", "Urgent", "--sort", "priority"],
        jobs.cmd_list,
        {"all_namespaces": True, "phase": "failed", "priority": "urgent", "sort": "priority"},
    ),
    (
        ["list", "-l", "team=growth", "--limit", "50", "--continue", "tok", "-o", "wide"],
        jobs.cmd_list,
        {"selector": "team=growth", "limit": 50, "continue_token": "tok", "output": "wide"},
    ),
    (["get", "mail-1"], jobs.cmd_get, {"name": "mail-1", "output": "text"}),
    (["get", "mail-1", "-o", "yaml"], jobs.cmd_get, {"output": "yaml"}),
    (
        ["enqueue", "email"],
        jobs.cmd_enqueue,
        {"type": "email", "payload": "{}", "wait": False, "wait_timeout": 600.0, "retries": None},
    ),
    (
        [
            "enqueue",
            "report",
            "--payload",
            "@event.json",
            "--priority",
            "Low",
            "--at",
            "2026-12-01T09:00:00Z",
            "--retries",
            "5",
            "--timeout",
            "10m",
            "--name",
            "r-1",
            "--wait",
            "--wait-timeout",
            "1.5",
        ],
        jobs.cmd_enqueue,
        {
            "payload": "@event.json",
            "priority": "Low",
            "at": "2026-12-01T09:00:00Z",
            "delay": None,
            "retries": 5,
            "timeout": "10m",
            "name": "r-1",
            "wait": True,
            "wait_timeout": 1.5,
        },
    ),
    (["retry", "resolve-7"], jobs.cmd_retry, {"name": "resolve-7"}),
    (["cancel", "big-1"], jobs.cmd_cancel, {"name": "big-1"}),
    (["logs", "resolve-7"], jobs.cmd_logs, {"attempt": None, "tail": None}),
    (["logs", "resolve-7", "--attempt", "1", "--tail", "20"], jobs.cmd_logs, {"attempt": 1}),
    (
        ["stats", "-A", "--redis-url", "redis://r:6379/0", "--redis-cluster", "-o", "json"],
        stats.cmd_stats,
        {"redis_url": "redis://r:6379/0", "redis_cluster": True, "output": "json"},
    ),
    (["schedules"], schedules.cmd_schedules, {"next": 1, "output": "table"}),
    (["schedules", "-A", "--next", "3"], schedules.cmd_schedules, {"next": 3}),
    (["run-now", "daily-report"], schedules.cmd_run_now, {"name": "daily-report"}),
]


@pytest.mark.parametrize(
    ("argv", "func", "expected"), VERBS, ids=[" ".join(argv) for argv, _, _ in VERBS]
)
def test_every_verb_parses_to_its_coroutine(
    argv: list[str], func: Verb, expected: dict[str, Any]
) -> None:
    args = build_parser().parse_args(argv)
    assert args.func is func
    assert {key: getattr(args, key) for key in expected} == expected


@pytest.mark.parametrize("verb", sorted({argv[0] for argv, _, _ in VERBS}))
def test_every_verb_takes_the_shared_flags_and_shows_examples(
    verb: str, capsys: pytest.CaptureFixture[str]
) -> None:
    operand = {"list": [], "stats": [], "schedules": [], "enqueue": ["email"]}.get(verb, ["x"])
    args = build_parser().parse_args(
        [verb, *operand, "-n", "app", "--kubeconfig", "/k", "--context", "c"]
    )
    assert (args.namespace, args.kubeconfig, args.context) == ("app", "/k", "c")
    with pytest.raises(SystemExit) as exit_:
        main([verb, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text
    assert f"kubectl bgjobs {verb}" in text


def test_stats_reads_its_redis_defaults_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BGJOBS_REDIS_URL", "redis://env:6379/0")
    monkeypatch.setenv("BGJOBS_REDIS_PREFIX", "team-a:")
    monkeypatch.setenv("BGJOBS_REDIS_CLUSTER", "Yes")
    args = build_parser().parse_args(["stats"])
    assert (args.redis_url, args.redis_prefix, args.redis_cluster) == (
        "redis://env:6379/0",
        "team-a:",
        True,
    )
    assert build_parser().parse_args(["stats", "--no-redis-cluster"]).redis_cluster is False


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["list", "--phase", "done"], "argument --phase"),
        (["list", "--priority", "meh"], "argument --priority"),
        (["list", "--limit", "many"], "argument --limit"),
        (["list", "--sort", "name"], "argument --sort"),
        (["list", "-o", "csv"], "argument -o/--output"),
        (["get", "x", "-o", "wide"], "argument -o/--output"),
        (["enqueue", "email", "--priority", "low"], "argument --priority"),
        (["enqueue", "email", "--retries", "three"], "argument --retries"),
        (["enqueue", "email", "--wait-timeout", "soon"], "argument --wait-timeout"),
        (["enqueue", "email", "--delay", "5m", "--at", "2026-12-01T09:00:00Z"], "argument --at"),
        (["logs", "x", "--attempt", "last"], "argument --attempt"),
        (["logs", "x", "--tail", "all"], "argument --tail"),
        (["stats", "-o", "wide"], "argument -o/--output"),
        (["schedules", "--next", "a few"], "argument --next"),
        (["enqueue"], "type"),
        (["run-now"], "name"),
        (["launch"], "argument VERB"),
    ],
)
def test_a_bad_value_names_its_flag(
    argv: list[str], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert flag in capsys.readouterr().err


def test_no_verb_prints_the_help_with_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "usage: kubectl bgjobs" in out
    assert "Exit codes a script can rely on:" in out
    assert "6  enqueue --wait: the wait timed out" in out
