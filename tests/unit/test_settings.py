"""Settings from the environment: a bad value names its variable."""

import dataclasses

import pytest

from bgjobs.__main__ import build_parser
from bgjobs.settings import Settings, SettingsError


def test_whole_numbers_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGJOBS_METRICS_PORT", "9100")
    monkeypatch.setenv("BGJOBS_WORKERS", "")
    settings = Settings.from_env()
    assert (settings.metrics_port, settings.workers) == (9100, Settings.workers)


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("BGJOBS_WORKERS", "sixteen", "BGJOBS_WORKERS: expected a whole number, got 'sixteen'"),
        # What Kubernetes injects for a Service named bgjobs-metrics.
        ("BGJOBS_METRICS_PORT", "tcp://10.96.4.2:8080", "enableServiceLinks: false"),
        ("BGJOBS_WEBHOOK_PORT", "9443.5", "BGJOBS_WEBHOOK_PORT"),
    ],
)
def test_a_bad_number_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=says.replace(".", r"\.")):
        Settings.from_env()


def test_the_command_exits_2_saying_which_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bgjobs.__main__ import main

    monkeypatch.setenv("BGJOBS_METRICS_PORT", "tcp://10.96.4.2:8080")
    assert main(["run", "--help"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bgjobs: BGJOBS_METRICS_PORT: expected a whole number"), err


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("BGJOBS_API_TIMEOUT", "soon", "BGJOBS_API_TIMEOUT: expected a number of seconds"),
        ("BGJOBS_REDIS_TIMEOUT", "0", "BGJOBS_REDIS_TIMEOUT: must be more than 0 seconds"),
    ],
)
def test_a_bad_duration_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=says):
        Settings.from_env()


def test_leader_election_timing_must_nest(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bgjobs.__main__ import main

    monkeypatch.setenv("BGJOBS_RENEW_DEADLINE", "20")  # longer than the 15 s lease
    assert main(["run", "--registry-file", "registry.yaml"]) == 2
    err = capsys.readouterr().err
    assert "retry period < renew deadline < lease duration" in err
    assert "--renew-deadline/BGJOBS_RENEW_DEADLINE 20s" in err


def test_a_zero_duration_flag_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from bgjobs.__main__ import main

    assert main(["run", "--registry-file", "r.yaml", "--api-timeout", "0"]) == 2
    err = capsys.readouterr().err
    assert "--api-timeout (BGJOBS_API_TIMEOUT): must be more than 0 seconds, got 0" in err


def test_the_operator_needs_a_registry(capsys: pytest.CaptureFixture[str]) -> None:
    from bgjobs.__main__ import main

    assert main(["run"]) == 2
    assert "no registry: give --registry-configmap" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["--redis-prefix", "jobs{x}:"],
            "--redis-prefix (BGJOBS_REDIS_PREFIX) 'jobs{x}:': must not",
        ),
        (
            ["--redis-prefix", "jobs*"],
            "--redis-prefix (BGJOBS_REDIS_PREFIX) 'jobs*': must not contain * ?",
        ),
        (["--redis-prefix", ""], "--redis-prefix (BGJOBS_REDIS_PREFIX) '': must not be empty"),
        (
            ["--redis-cluster", "--redis-url", "redis://node-0:6379/3"],
            "--redis-url (BGJOBS_REDIS_URL) names database 3: a Redis Cluster has only database 0",
        ),
        (
            ["--redis-cluster", "--redis-sentinel", "s:26379"],
            "--redis-sentinel (BGJOBS_REDIS_SENTINELS) and --redis-cluster",
        ),
    ],
)
def test_redis_settings_that_cannot_work_are_refused(
    capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    from bgjobs.__main__ import main

    assert main(["run", "--registry-file", "r.yaml", *args]) == 2
    assert says in capsys.readouterr().err


def test_redis_cluster_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BGJOBS_REDIS_CLUSTER", "true")
    assert Settings.from_env().redis_cluster is True
    monkeypatch.setenv("BGJOBS_REDIS_CLUSTER", "maybe")
    with pytest.raises(SettingsError, match="BGJOBS_REDIS_CLUSTER: expected true or false"):
        Settings.from_env()


@pytest.mark.parametrize(
    ("environ", "argv", "want"),
    [
        pytest.param({}, [], {"namespaces": (), "workers": 16}, id="defaults"),
        pytest.param({"BGJOBS_NAMESPACES": "a,b", "BGJOBS_WORKERS": "4"}, [],
                     {"namespaces": ("a", "b"), "workers": 4}, id="from the environment"),
        pytest.param({"BGJOBS_NAMESPACES": "a,b", "BGJOBS_WORKERS": "4"},
                     ["-n", "c", "--workers", "2"],
                     {"namespaces": ("c",), "workers": 2}, id="flags win"),
        pytest.param({"BGJOBS_NAMESPACES": "a"}, ["-A"], {"namespaces": ()},
                     id="--all-namespaces over the environment"),
        pytest.param({"BGJOBS_REDIS_PASSWORD": "s3cret"}, ["--redis-prefix", "x:"],
                     {"redis_password": "s3cret", "redis_prefix": "x:"},
                     id="settings without a flag stay"),
    ],
)  # fmt: skip
def test_settings_come_from_the_environment_then_the_flags(
    monkeypatch: pytest.MonkeyPatch,
    environ: dict[str, str],
    argv: list[str],
    want: dict[str, object],
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    env = Settings.from_env()
    settings = env.with_flags(build_parser(env).parse_args(["run", *argv]))
    assert {k: getattr(settings, k) for k in want} == want
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.workers = 1  # type: ignore[misc]


def test_the_webhook_options_come_from_the_settings() -> None:
    assert Settings().webhook() is None
    hook = Settings(webhook_port=8443, webhook_host="op.svc").webhook()
    assert hook is not None
    assert (hook.port, hook.host, hook.addr) == (8443, "op.svc", "0.0.0.0")
