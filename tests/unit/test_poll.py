"""The tests' one way to wait: the first truthy answer of a probe, or a failure
that says what was awaited and what was seen last; the same awaited or not."""

from collections.abc import Callable
from typing import Any

import pytest

from tests.support.poll import Timeout, eventually, eventually_sync


def answers(*values: Any) -> Callable[[], Any]:
    """A probe answering ``values`` in turn, then the last one for ever."""
    seen = list(values)
    return lambda: seen.pop(0) if len(seen) > 1 else seen[0]


async def run(wait: str, probe: Callable[[], Any], **kwargs: Any) -> Any:
    if wait == "sync":
        return eventually_sync(probe, **kwargs)

    async def awaited() -> Any:
        return probe()

    return await eventually(awaited, **kwargs)


WAITS = [pytest.param("sync", id="sync"), pytest.param("async", id="async")]


@pytest.mark.parametrize("wait", WAITS)
@pytest.mark.parametrize(
    ("values", "result"),
    [
        pytest.param(("ready",), "ready", id="at-once"),
        pytest.param((None, False, 0, [], {"phase": "Running"}), {"phase": "Running"}, id="later"),
    ],
)
async def test_the_first_truthy_answer_is_returned(
    wait: str, values: tuple[Any, ...], result: Any
) -> None:
    assert await run(wait, answers(*values), within=5, interval=0) == result


@pytest.mark.parametrize("wait", WAITS)
async def test_a_timeout_names_what_was_awaited_and_the_last_answer(wait: str) -> None:
    with pytest.raises(Timeout) as caught:
        await run(wait, answers(None, []), within=0.05, interval=0, what="the job to finish")
    assert str(caught.value) == "timed out after 0s waiting for the job to finish; last seen: []"
    assert isinstance(caught.value, AssertionError)  # a failed test, not an error
