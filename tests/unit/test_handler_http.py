"""The SDK's HTTP rule and error reading, and its settings readers: pure, table-driven."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bgjobs_handler import PermanentError
from bgjobs_handler.http import error_message, is_permanent, shown
from bgjobs_handler.settings import integer, one_of, required, seconds


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (400, True),
        (401, True),
        (403, True),
        (404, True),
        (409, True),
        (422, True),
        (499, True),
        (408, False),  # the server gave up waiting: later
        (429, False),  # rate limited: later
        (500, False),
        (503, False),
        (399, False),
        (200, False),
    ],
)
def test_4xx_is_permanent_except_408_and_429(status: int, permanent: bool) -> None:
    assert is_permanent(status) is permanent


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"ok": false, "reason": "MARKET_NOT_FOUND"}', "MARKET_NOT_FOUND"),  # SocialPredict
        (b'{"error": "invalid token"}', "invalid token"),
        (b'{"message": "Not Found"}', "Not Found"),
        (
            b'{"ok": false, "reason": "INVALID_STATE", "message": "child 5 unpublished"}',
            "INVALID_STATE: child 5 unpublished",
        ),
        (b'{"error": {"code": 7, "message": "quota"}}', "quota"),
        (b'{"error": "same", "message": "same"}', "same"),
        (b'{"detail": "no envelope"}', '{"detail": "no envelope"}'),
        (b'{"error": ""}', '{"error": ""}'),
        (b'["a list"]', '["a list"]'),
        (b"  plain\n text  ", "plain text"),
        (b"", ""),
        (b"\xff\xfe broken", "\ufffd\ufffd broken"),
    ],
)
def test_error_message_reads_the_envelopes(body: bytes, message: str) -> None:
    assert error_message(body) == message


def test_error_message_is_cut() -> None:
    text = error_message(b'{"message": "' + b"x" * 2000 + b'"}')
    assert len(text) == 500
    assert text.endswith("…")


@pytest.mark.parametrize(
    ("url", "named"),
    [
        (
            "http://127.0.0.1:8080/v0/markets/7/resolve",
            "http://127.0.0.1:8080/v0/markets/7/resolve",
        ),
        ("https://user:pw@api.example.org/x?token=s#f", "https://api.example.org/x"),
        ("http://[::1]:81/a", "http://[::1]:81/a"),
    ],
)
def test_errors_name_the_url_without_its_secrets(url: str, named: str) -> None:
    assert shown(url) == named


def test_a_webhook_is_named_by_its_origin() -> None:
    assert shown("https://hooks.example.org/services/T0/B0/secret", path=False) == (
        "https://hooks.example.org"
    )


ENV = {
    "EMPTY": "",
    "T": "2.5",
    "T_BAD": "soon",
    "T_ZERO": "0",
    "T_NAN": "nan",
    "T_INF": "inf",
    "P": "2525",
    "P_BAD": "25.5",
    "P_HIGH": "70000",
    "P_UNDERSCORE": "2_5",
    "S": "TLS",
    "S_BAD": "ssl",
}


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda: required(ENV, "T"), "2.5"),
        (lambda: seconds(ENV, "T", 10), 2.5),
        (lambda: seconds(ENV, "UNSET", 10), 10),
        (lambda: seconds(ENV, "EMPTY", 10), 10),
        (lambda: integer(ENV, "P", 587, low=1, high=65535), 2525),
        (lambda: integer(ENV, "UNSET", 587, low=1, high=65535), 587),
        (lambda: one_of(ENV, "S", "starttls", ("starttls", "tls", "none")), "tls"),
        (lambda: one_of(ENV, "UNSET", "starttls", ("starttls", "tls", "none")), "starttls"),
    ],
)
def test_settings_read(read: Callable[[], object], expected: object) -> None:
    assert read() == expected


@pytest.mark.parametrize(
    ("read", "says"),
    [
        (lambda: required(ENV, "UNSET"), "UNSET is not set in the handler's environment"),
        (lambda: required(ENV, "EMPTY"), "EMPTY is not set"),
        (lambda: seconds(ENV, "T_BAD", 10), "T_BAD='soon': expected a positive number of seconds"),
        (lambda: seconds(ENV, "T_ZERO", 10), "T_ZERO='0'"),
        (lambda: seconds(ENV, "T_NAN", 10), "T_NAN='nan'"),
        (lambda: seconds(ENV, "T_INF", 10), "T_INF='inf'"),
        (lambda: integer(ENV, "P_BAD", 1, low=1, high=65535), "P_BAD='25.5': expected a whole"),
        (lambda: integer(ENV, "P_HIGH", 1, low=1, high=65535), "from 1 to 65535"),
        (lambda: integer(ENV, "P_UNDERSCORE", 1, low=1, high=65535), "P_UNDERSCORE='2_5'"),
        (lambda: one_of(ENV, "S_BAD", "none", ("starttls", "tls")), "S_BAD='ssl': expected one of"),
    ],
)
def test_a_bad_setting_is_permanent_and_named(read: Callable[[], object], says: str) -> None:
    with pytest.raises(PermanentError) as caught:
        read()
    assert says in str(caught.value)
