"""The market_resolution handler against a server with SocialPredict's resolve semantics."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.support.handlers import attempt, load_handler
from tests.support.http_peer import http_peer
from tests.support.socialpredict import KEY, SocialPredict

resolve = load_handler("market_resolution").resolve


def run(
    payload: dict[str, Any], tmp_path: Path, api: SocialPredict, n: int = 1
) -> list[tuple[Any, ...]]:
    with http_peer(api) as peer:
        env = {"APP_BASE_URL": peer.url, "APP_JWT_SIGNING_KEY": KEY}
        results = [attempt(resolve, payload, tmp_path, env=env, attempt=i + 1) for i in range(n)]
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
    assert seen.path == "/v0/markets/7/resolve"
    assert json.loads(seen.body) == {"resolution": "YES"}
    claims = jwt.decode(seen.headers["Authorization"][7:], KEY, algorithms=["HS256"])
    assert claims["username"] == "creator"
    assert 0 < claims["exp"] - time.time() <= 300
    assert api.resolved == {"7": "YES"}


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ({"marketId": 404, "outcome": "NO", "username": "creator"}, "404: market not found"),
        ({"marketId": 8, "outcome": "NO", "username": "mallory"}, "403: only the market creator"),
    ],
)
def test_server_refusals_are_permanent(tmp_path: Path, payload: dict[str, Any], text: str) -> None:
    ((code, out, _),) = run(payload, tmp_path, SocialPredict())
    assert code == 3
    assert text in out


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
    assert "500: database is busy" in results[0][1]
    assert json.loads(results[2][1])["status"] == "resolved"


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
