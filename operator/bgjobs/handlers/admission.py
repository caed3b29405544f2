"""The validating admission webhook, served by the operator through kopf.

Enabled with ``bgjobs run --webhook-port``; see :mod:`bgjobs.webhook` for the
server and its certificates. It judges what defines work (CREATE, and spec
changes), never an update that only cancels, labels, writes status or
removes a finalizer: those must work whatever the registry says today.
"""

from __future__ import annotations

from typing import Any

import kopf

from bgjobs import API_GROUP, API_VERSION
from bgjobs.logic.admission import check_backgroundjob, check_jobschedule, needs_judging
from bgjobs.models.backgroundjob import PLURAL
from bgjobs.models.jobschedule import PLURAL as SCHEDULE_PLURAL
from bgjobs.models.registry import Registry


def _spec_of(body: kopf.Body | None) -> dict[str, Any] | None:
    return dict(body.get("spec") or {}) if body is not None else None


def _registry(memo: kopf.Memo) -> Registry:
    runtime = memo.get("runtime")
    return runtime.registry.current if runtime is not None else Registry()


@kopf.on.validate(
    API_GROUP, API_VERSION, PLURAL, id="backgroundjobs", operations=["CREATE", "UPDATE"]
)
def validate_backgroundjob(spec: kopf.Spec, memo: kopf.Memo, **kwargs: Any) -> None:
    if not needs_judging(PLURAL, kwargs.get("operation"), _spec_of(kwargs.get("old")), spec):
        return
    problem = check_backgroundjob(dict(spec), _registry(memo))
    if problem:
        raise kopf.AdmissionError(problem, code=422)


@kopf.on.validate(
    API_GROUP, API_VERSION, SCHEDULE_PLURAL, id="jobschedules", operations=["CREATE", "UPDATE"]
)
def validate_jobschedule(spec: kopf.Spec, memo: kopf.Memo, **kwargs: Any) -> None:
    if not needs_judging(
        SCHEDULE_PLURAL, kwargs.get("operation"), _spec_of(kwargs.get("old")), spec
    ):
        return
    problem = check_jobschedule(dict(spec), _registry(memo))
    if problem:
        raise kopf.AdmissionError(problem, code=422)
