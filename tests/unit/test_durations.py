from datetime import timedelta

import pytest

from bgjobs.models.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0),
        ("0s", 0),
        ("30s", 30),
        ("10m", 600),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("500ms", 0.5),
        ("2h45m30s", 9930),
        ("168h", 604800),
        ("1m0.5s", 60.5),
    ],
)
def test_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "-5s", "5 s", "1d", "s", "1h-30m", "abc", "1.s"])
def test_parse_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(DurationError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (30, "30s"), (90, "1m30s"), (3600, "1h"), (5430.5, "1h30m30.5s")],
)
def test_format(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text
    assert parse_duration(text) == timedelta(seconds=seconds)
