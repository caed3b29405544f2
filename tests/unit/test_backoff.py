from datetime import timedelta

import pytest

from bgjobs.logic.backoff import retry_delay

S = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("retry", "initial", "factor", "cap", "expected"),
    [
        (1, 30, 2.0, 600, 30),
        (2, 30, 2.0, 600, 60),
        (3, 30, 2.0, 600, 120),
        (5, 30, 2.0, 600, 480),
        (6, 30, 2.0, 600, 600),  # capped
        (1000, 30, 2.0, 600, 600),  # no overflow
        (3, 10, 1.0, 600, 10),  # constant backoff
        (3, 1, 1.5, 600, 2.25),
    ],
)
def test_retry_delay_follows_the_contract_formula(
    retry: int, initial: float, factor: float, cap: float, expected: float
) -> None:
    got = retry_delay(retry, initial_delay=initial * S, max_delay=cap * S, backoff_factor=factor)
    assert got == expected * S


def test_retry_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        retry_delay(0, initial_delay=S, max_delay=S, backoff_factor=2.0)
