"""The market_resolution handler against a peer answering as SocialPredict's API does."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.handlers import attempt, load_handler
from tests.support.http_peer import Seen, http_peer
from tests.support.redis_server import free_port
from tests.support.socialpredict import KEY, SocialPredict

resolve = load_handler("market_resolution").resolve
ENV = {"APP_JWT_SIGNING_KEY": KEY}


def run(
    payload: dict[str, Any],
    tmp_path: Path,
    api: SocialPredict,
    n: int = 1,
    env: dict[str, str] | None = None,
) -> list[tuple[int, str, list[Seen]]]:
    with http_peer(api) as peer:
        full = {"APP_BASE_URL": peer.url, **ENV, **(env or {})}
        results = [attempt(resolve, payload, tmp_path, env=full, attempt=i + 1) for i in range(n)]
        requests = list(peer.requests)
    return [(code, out, requests) for code, out in results]


def test_resolves_then_a_repeat_is_already_resolved(tmp_path: Path) -> None:
    api = SocialPredict()
    payload = {"marketId": 7, "outcome": "YES", "username": "creator"}

    (first, second) = run(payload, tmp_path, api, n=2)

    assert first[0] == 0
    assert json.loads(first[1]) == {"marketId": 7, "outcome": "YES", "status": "resolved"}
    assert second[0] == 0
    assert json.loads(second[1])["status"] == "already_resolved"
    seen = first[2][0]
    assert (seen.method, seen.path) == ("POST", "/v0/markets/7/resolve")
    assert json.loads(seen.body) == {"resolution": "YES"}
    claims = jwt.decode(seen.headers["Authorization"][7:], KEY, algorithms=["HS256"])
    assert claims["username"] == "creator"
    assert 0 < claims["exp"] - time.time() <= 300
    assert api.resolved == {"7": "YES"}


def test_a_409_with_the_same_outcome_is_already_resolved(tmp_path: Path) -> None:
    api = SocialPredict(resolved={"7": "YES"})

    ((code, out, requests),) = run(
        {"marketId": 7, "outcome": "YES", "username": "creator"}, tmp_path, api
    )

    assert code == 0, out
    assert json.loads(out) == {"marketId": 7, "outcome": "YES", "status": "already_resolved"}
    assert [(r.method, r.path) for r in requests] == [
        ("POST", "/v0/markets/7/resolve"),
        ("GET", "/v0/markets/7"),  # the 409 alone does not say which outcome
    ]


def test_a_409_with_another_outcome_fails_permanently_naming_both(tmp_path: Path) -> None:
    api = SocialPredict(resolved={"7": "YES"})

    ((code, out, _),) = run({"marketId": 7, "outcome": "NO", "username": "creator"}, tmp_path, api)

    assert code == 3
    assert out == (
        "resolve answered 409: MARKET_CLOSED; market 7 is already resolved YES, not NO as asked"
    )
    assert api.resolved == {"7": "YES"}


def test_a_409_on_a_market_not_resolved_is_permanent(tmp_path: Path) -> None:
    api = SocialPredict(unpublished=frozenset({"12"}))

    ((code, out, _),) = run({"marketId": 12, "outcome": "NO", "username": "creator"}, tmp_path, api)

    assert code == 3
    assert out.startswith("resolve answered 409: MARKET_GROUP_CHILD_UNPUBLISHED: market 12 belongs")
    assert out.endswith("; market 12 is not resolved")


# "\u0667" is an Arabic-Indic seven: str.isdigit() says yes, SocialPredict's parser no.
@pytest.mark.parametrize(
    "market_id", [True, 1.5, "", "5/../4", 0, -3, 7.0, "7 ", "+7", "\u0667", 2**63, None]
)
def test_a_market_id_that_is_not_a_positive_integer_is_refused_before_any_request(
    tmp_path: Path, market_id: object
) -> None:
    payload = {"marketId": market_id, "outcome": "YES", "username": "creator"}

    ((code, out, requests),) = run(payload, tmp_path, SocialPredict())

    assert code == 3
    assert out.startswith("payload.marketId: "), out
    assert requests == []


def test_a_string_of_digits_is_the_market_it_names(tmp_path: Path) -> None:
    ((code, out, requests),) = run(
        {"marketId": "0042", "outcome": "N/A", "username": "creator"}, tmp_path, SocialPredict()
    )
    assert code == 0, out
    assert json.loads(out)["marketId"] == 42
    assert requests[0].path == "/v0/markets/42/resolve"


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ({"marketId": 404, "outcome": "NO", "username": "creator"}, "404: MARKET_NOT_FOUND"),
        ({"marketId": 8, "outcome": "NO", "username": "mallory"}, "403: AUTHORIZATION_DENIED"),
    ],
)
def test_server_refusals_are_permanent(tmp_path: Path, payload: dict[str, Any], text: str) -> None:
    ((code, out, _),) = run(payload, tmp_path, SocialPredict())
    assert code == 3
    assert out == f"resolve answered {text}"


def test_bad_outcome_is_refused_before_any_request(tmp_path: Path) -> None:
    ((code, out, requests),) = run(
        {"marketId": 9, "outcome": "MAYBE", "username": "creator"}, tmp_path, SocialPredict()
    )
    assert code == 3
    assert "payload.outcome" in out
    assert requests == []


def test_5xx_is_retried_and_the_retry_resolves(tmp_path: Path) -> None:
    api = SocialPredict(fail_first=2)
    payload = {"marketId": 11, "outcome": "N/A", "username": "creator"}

    results = run(payload, tmp_path, api, n=3)

    assert [code for code, _, _ in results] == [1, 1, 0]
    assert results[0][1] == "HttpError: resolve answered 500: INTERNAL_ERROR"
    assert json.loads(results[2][1])["status"] == "resolved"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"APP_TIMEOUT": "soon"}, "APP_TIMEOUT='soon': expected a positive number of seconds"),
        ({"APP_TIMEOUT": "-1"}, "APP_TIMEOUT='-1'"),
        ({"APP_BASE_URL": ""}, "APP_BASE_URL is not set"),
        ({"APP_BASE_URL": "socialpredict:8080"}, "APP_BASE_URL='socialpredict:8080': expected"),
        ({"APP_JWT_SIGNING_KEY": ""}, "set APP_TOKEN or APP_JWT_SIGNING_KEY"),
    ],
)
def test_a_bad_setting_is_permanent_and_sends_nothing(
    tmp_path: Path, env: dict[str, str], says: str
) -> None:
    payload = {"marketId": 5, "outcome": "NO", "username": "creator"}
    ((code, out, requests),) = run(payload, tmp_path, SocialPredict(), env=env)
    assert code == 3
    assert out.startswith(says), out
    assert requests == []


def test_a_network_error_is_retried_and_names_the_url(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    payload = {"marketId": 5, "outcome": "NO", "username": "creator"}
    code, out = attempt(resolve, payload, tmp_path, env={**ENV, "APP_BASE_URL": base})
    assert code == 1
    assert out.startswith(f"ConnectionError: POST {base}/v0/markets/5/resolve: "), out


def test_a_stalled_answer_is_retried_and_names_the_url(tmp_path: Path) -> None:
    release = threading.Event()

    def stall(seen: Seen) -> tuple[int, bytes]:
        release.wait(10)
        return 204, b""

    with http_peer(stall) as peer:
        env = {**ENV, "APP_BASE_URL": peer.url, "APP_TIMEOUT": "0.3"}
        payload = {"marketId": 5, "outcome": "NO", "username": "creator"}
        code, out = attempt(resolve, payload, tmp_path, env=env)
        release.set()
    assert code == 1
    assert out == f"TimeoutError: POST {peer.url}/v0/markets/5/resolve: no answer within 0.3s"


def test_a_given_token_is_used_as_is(tmp_path: Path) -> None:
    token = jwt.encode(
        {"username": "creator", "exp": int(time.time()) + 60}, KEY, algorithm="HS256"
    )
    with http_peer(SocialPredict()) as peer:
        code, out = attempt(
            resolve,
            {"marketId": 5, "outcome": "NO", "username": "ignored"},
            tmp_path,
            env={"APP_BASE_URL": peer.url, "APP_TOKEN": token},
        )
        assert peer.requests[0].headers["Authorization"] == f"Bearer {token}"
    assert code == 0, out
