"""Repeated Events: one Event per series, its count written at most every 30 s."""

import asyncio
from typing import Any

from kubernetes_asyncio.client.api_client import ApiClient

from bgjobs.k8s import Kube
from bgjobs.k8s.events import EventSeries
from tests.support.poll import eventually

KEY = ("ns", "uid-1", "Warning", "DispatchFailed")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_retry_loop_every_10s_writes_one_event_and_a_count_every_30s() -> None:
    clock = Clock()
    series = EventSeries(clock=clock)
    seen = []
    for i in range(7):  # t = 0, 10, ..., 60
        action, s = series.occurred(KEY, f"try {i}")
        if action == "create":
            s.name = "job.17f3"
        seen.append((action, s.count, s.message))
        clock.now += 10
    assert seen == [
        ("create", 1, "try 0"),
        ("later", 1, "try 1"),
        ("later", 1, "try 2"),
        ("update", 4, "try 3"),
        ("later", 4, "try 4"),
        ("later", 4, "try 5"),
        ("update", 7, "try 6"),
    ]


def test_the_last_repeats_are_written_once_their_time_comes() -> None:
    clock = Clock()
    series = EventSeries(clock=clock)
    series.occurred(KEY, "first")[1].name = "job.17f3"
    clock.now += 10
    action, s = series.occurred(KEY, "second")  # then the loop stops
    assert action == "later"
    assert series.wait_for(s) == 20
    clock.now += 20
    assert series.take(s) is True
    assert (s.count, s.message) == (2, "second")
    assert series.take(s) is False  # nothing more to write


def test_other_reasons_objects_and_a_quiet_spell_start_new_events() -> None:
    clock = Clock()
    series = EventSeries(clock=clock)
    series.occurred(KEY, "m")[1].name = "a"
    assert series.occurred(("ns", "uid-1", "Warning", "JobNameTaken"), "m")[0] == "create"
    assert series.occurred(("ns", "uid-2", "Warning", "DispatchFailed"), "m")[0] == "create"
    clock.now += 601  # past the 10-minute window
    assert series.occurred(KEY, "m")[0] == "create"


def test_until_the_first_event_exists_repeats_wait_and_a_lost_one_is_made_again() -> None:
    clock = Clock()
    series = EventSeries(clock=clock)
    series.occurred(KEY, "m")  # being posted: no name yet
    clock.now += 40
    action, s = series.occurred(KEY, "m")
    assert action == "later"
    assert series.take(s) is False  # nothing to update yet
    series.forget(KEY, s)  # the post failed
    assert series.occurred(KEY, "m")[0] == "create"


def test_only_so_many_series_are_remembered() -> None:
    series = EventSeries(size=2, clock=Clock())
    for uid in ("a", "b", "c"):
        series.occurred(("ns", uid, "Normal", "Queued"), "m")[1].name = uid
    assert series.occurred(("ns", "a", "Normal", "Queued"), "m")[0] == "create"  # forgotten
    assert series.occurred(("ns", "c", "Normal", "Queued"), "m")[0] == "later"  # remembered


class RecordingKube(Kube):
    """Kube with the two Event writes replaced by slow in-memory ones."""

    def __init__(self) -> None:
        super().__init__(ApiClient())
        self.event_series = EventSeries(update_every=0.2)
        self.writes: list[tuple[str, int, str]] = []

    async def post_event(
        self, obj: dict[str, Any], *, type_: str, reason: str, message: str, count: int = 1
    ) -> str | None:
        await asyncio.sleep(0.05)
        self.writes.append(("post", count, message))
        return "ev-1"

    async def _count_event(self, namespace: str, name: str, count: int, message: str) -> bool:
        await asyncio.sleep(0.05)
        self.writes.append(("count", count, message))
        return True


async def test_repeats_while_the_event_is_being_made_are_written_after_it() -> None:
    kube = RecordingKube()
    job = {"metadata": {"namespace": "ns", "name": "j", "uid": "u"}}
    for i in range(3):  # all before the first post has returned
        kube.emit(job, type_="Warning", reason="DispatchFailed", message=f"try {i}", repeats=True)

    async def settled() -> bool:
        return len(kube.writes) >= 2

    await eventually(settled, within=5, interval=0.02, what="the post and the count")
    # The Event is made with the message current when it is written, then counted.
    assert kube.writes == [("post", 1, "try 2"), ("count", 3, "try 2")]
    kube.emit(job, type_="Normal", reason="Dispatched", message="a transition")
    await kube.close()
    assert kube.writes[-1] == ("post", 1, "a transition")  # never grouped
