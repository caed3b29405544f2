"""Several operator replicas: only the holder of the Lease dispatches; a standby takes over."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from tests.support.bgjobs import Jobs, bgjob, status
from tests.support.operator import OperatorProcess
from tests.support.poll import eventually

Run = Callable[..., OperatorProcess]
pytestmark = pytest.mark.usefixtures("fake_pods")


def leading(op: OperatorProcess) -> bool:
    return "leading: holding Lease" in op.log()


def dispatched_by(op: OperatorProcess) -> set[str]:
    # From Pending, or straight from no status when a slot was free at once.
    return set(re.findall(r"/([\w-]+): (?:Pending/\w+|-/-) -> Running/Dispatched", op.log()))


async def test_one_replica_leads_and_a_standby_takes_over(
    run_operator: Run, jobs: Jobs, namespace: str
) -> None:
    lease = ["--leader-elect", f"{namespace}/bgjobs-leader"]
    first = run_operator(extra_args=lease)
    await eventually(lambda: _true(leading(first)), within=30, what="the first replica to lead")
    second = run_operator(extra_args=lease)
    for i in range(4):
        await jobs.create(bgjob(f"before-{i}"))
    for i in range(4):
        assert status(await jobs.wait(f"before-{i}", "Completed"))["phase"] == "Completed"
    assert not leading(second)
    assert dispatched_by(first) == {f"before-{i}" for i in range(4)}
    assert dispatched_by(second) == set()

    first.stop()  # a clean stop releases the Lease
    await eventually(lambda: _true(leading(second)), within=30, what="the standby to lead")
    await jobs.create(bgjob("after"))

    assert status(await jobs.wait("after", "Completed"))["phase"] == "Completed"
    assert "after" in dispatched_by(second)
    assert len(await jobs.batch_jobs()) == 5


async def _true(value: bool) -> bool:
    return value
