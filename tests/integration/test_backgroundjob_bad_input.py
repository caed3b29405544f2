"""Bad BackgroundJobs: refused by the API server where the schema can say so,
else ``Failed``/``InvalidSpec`` with a message naming the field; the other jobs
in the namespace are not disturbed."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.support.bgjobs import Jobs, bgjob, status
from tests.support.operator import OperatorProcess

Run = Callable[..., OperatorProcess]


pytestmark = pytest.mark.usefixtures("fake_pods")


REFUSED = [
    ("unknown-priority", {"priority": "Meh"}, "spec.priority"),
    ("negative-retries", {"retryPolicy": {"maxRetries": -1}}, "spec.retryPolicy.maxRetries"),
    ("bad-delay", {"delay": "5 minutes"}, "spec.delay"),
    ("bad-timeout", {"timeout": "1d"}, "spec.timeout"),
    ("bad-initial-delay", {"retryPolicy": {"initialDelay": "soon"}}, "spec.retryPolicy"),
    ("both-times", {"delay": "5s", "runAt": "2030-01-01T00:00:00Z"}, "mutually exclusive"),
    ("bad-type", {"type": "Send Email!"}, "spec.type"),
    ("bad-factor", {"retryPolicy": {"backoffFactor": 0.5}}, "spec.retryPolicy.backoffFactor"),
]


@pytest.mark.parametrize(("name", "spec", "field"), REFUSED, ids=[r[0] for r in REFUSED])
async def test_schema_refuses_bad_specs(
    jobs: Jobs, crds: Any, name: str, spec: dict[str, Any], field: str
) -> None:
    obj = bgjob(name)
    obj["spec"].update(spec)

    with pytest.raises(client.ApiException) as refused:
        await jobs.create(obj)

    assert refused.value.status == 422
    assert refused.value.body is not None
    message = json.loads(refused.value.body)["message"]
    assert field in message
    assert await jobs.get(name) is None


async def test_oversized_payload_ends_invalid_spec_and_others_run(
    run_operator: Run, jobs: Jobs
) -> None:
    run_operator()
    await jobs.create(bgjob("good-before"))
    await jobs.create(bgjob("huge", payload={"blob": "x" * 70_000}))
    await jobs.create(bgjob("good-after"))

    bad = await jobs.wait("huge", "Failed")

    st = status(bad)
    assert st["reason"] == "InvalidSpec"
    assert "spec.payload" in st["message"]
    assert "65536" in st["message"]
    assert await jobs.batch_jobs("huge") == []
    for name in ("good-before", "good-after"):
        assert status(await jobs.wait(name, "Completed"))["phase"] == "Completed"


async def test_spec_change_after_start_is_refused(run_operator: Run, jobs: Jobs) -> None:
    run_operator()
    await jobs.create(bgjob("started", fake={"run-for": "3s"}, payload={"n": 1}))
    await jobs.wait("started", "Running")

    with pytest.raises(client.ApiException) as refused:
        await jobs.patch("started", {"spec": {"payload": {"n": 2}}})
    assert refused.value.status == 422
    assert refused.value.body is not None
    assert "immutable once the job has started" in json.loads(refused.value.body)["message"]

    obj = await jobs.patch("started", {"spec": {"ttlAfterFinished": "1h"}})
    assert obj["spec"]["ttlAfterFinished"] == "1h"
    done = await jobs.wait("started", "Completed")
    assert done["spec"]["payload"]["n"] == 1
