"""Repeated Events: one Event per series, its count written at most every 30 s."""

from bgjobs.k8s.events import EventSeries

KEY = ("ns", "uid-1", "Warning", "DispatchFailed")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_retry_loop_every_10s_writes_one_event_and_a_count_every_30s() -> None:
    clock = Clock()
    series = EventSeries(clock=clock)
    actions = []
    for _ in range(7):  # t = 0, 10, ..., 60
        action, s = series.occurred(KEY)
        if action == "create":
            s.name = "job.17f3"
        actions.append((action, s.count))
        clock.now += 10
    assert actions == [
        ("create", 1),
        ("skip", 1),
        ("skip", 1),
        ("update", 4),
        ("skip", 4),
        ("skip", 4),
        ("update", 7),
    ]


def test_other_reasons_objects_and_a_quiet_spell_start_new_events() -> None:
    clock = Clock()
    series = EventSeries(clock=clock)
    series.occurred(KEY)[1].name = "a"
    assert series.occurred(("ns", "uid-1", "Warning", "JobNameTaken"))[0] == "create"
    assert series.occurred(("ns", "uid-2", "Warning", "DispatchFailed"))[0] == "create"
    clock.now += 601  # past the 10-minute window
    assert series.occurred(KEY)[0] == "create"


def test_until_the_first_event_exists_repeats_wait_and_a_lost_one_is_made_again() -> None:
    clock = Clock()
    series = EventSeries(clock=clock)
    series.occurred(KEY)  # being posted: no name yet
    clock.now += 40
    assert series.occurred(KEY)[0] == "skip"
    series.forget(KEY)  # the post failed
    assert series.occurred(KEY)[0] == "create"


def test_only_so_many_series_are_remembered() -> None:
    series = EventSeries(size=2, clock=Clock())
    for uid in ("a", "b", "c"):
        series.occurred(("ns", uid, "Normal", "Queued"))[1].name = uid
    assert series.occurred(("ns", "a", "Normal", "Queued"))[0] == "create"  # forgotten
    assert series.occurred(("ns", "c", "Normal", "Queued"))[0] == "skip"  # remembered
