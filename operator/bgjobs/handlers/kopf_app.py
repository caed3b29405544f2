"""The kopf side of the operator: startup/cleanup and the watch handlers.

Every watch event only marks its object dirty in a work queue; the
reconcilers do the rest. Attempt Jobs (``app.kubernetes.io/managed-by:
bgjobs``) mark their owner dirty, so an attempt's outcome is read as soon as
the Job controller records it. BackgroundJobs, which can number 100,000, are
watched by the runtime itself (:mod:`bgjobs.k8s.informer`), without kopf's
task and memory per object.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, cast

import kopf

from bgjobs import API_GROUP, API_VERSION, webhook
from bgjobs.logic.outcome import ended
from bgjobs.models.backgroundjob import KIND
from bgjobs.models.jobschedule import PLURAL as SCHEDULE_PLURAL
from bgjobs.runtime import slim
from bgjobs.runtime.app import Runtime
from bgjobs.runtime.workqueue import GONE
from bgjobs.settings import Settings, SettingsError
from bgjobs.vocabulary import MANAGED_BY, OUTCOME_FINALIZER

log = logging.getLogger(__name__)


def memo_for(settings: Settings) -> kopf.Memo:
    """What ``bgjobs run`` hands kopf: the settings, read once (``kopf run -m``
    without it reads them from the environment)."""
    return kopf.Memo(settings=settings)


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf keeps a deep copy of every object seen (its "essence") to diff the
    next version against, for change handlers. bgjobs has event handlers only:
    nothing reads the diff, so nothing is copied."""

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        return cast(kopf.BodyEssence, {})

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        return None


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.posting.level = logging.WARNING
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.watching.server_timeout = 270
    # The initial list a page at a time: not every object parsed at once.
    settings.watching.chunk_size = 500
    settings.watching.client_timeout = 300
    # Only bgjobs' own Jobs travel from the API server (the filter on the
    # handler below alone would still send every Job in the cluster).
    settings.watching.label_selectors["batch", "v1", "jobs"] = ",".join(
        f"{k}={v}" for k, v in MANAGED_BY.items()
    )
    # Each API request kopf makes is tried again after these pauses (about a
    # minute in all) before its task gives up: enough for an API server restart.
    settings.networking.error_backoffs = [1, 2, 5, 10, 20, 30]
    try:
        config: Settings = memo.get("settings") or Settings.from_env()
        config.check()
    except SettingsError as exc:
        raise kopf.PermanentError(str(exc)) from exc
    settings.networking.request_timeout = config.api_timeout
    settings.networking.connect_timeout = min(10.0, config.api_timeout)
    if config.namespaces:
        # Fixed namespaces: nothing cluster-wide to observe (no namespace
        # patterns; the CRDs are there before the operator), so kopf needs no
        # cluster-scoped list/watch on CRDs and namespaces.
        settings.scanning.disabled = True
    hook = config.webhook()
    if hook is not None:
        webhook.configure(settings, hook)
    try:
        memo.runtime = await Runtime.start(config)
        # kopf discovers its resources once, right after this handler; an API
        # server that is down then would leave it with nothing to watch. The
        # runtime's own loops (and /healthz) are running meanwhile.
        await memo.runtime.kube.wait_reachable()
    except Exception as exc:
        # Nothing half-started is retried in this process (ports are bound,
        # clients open): exit, and let Kubernetes start a fresh one.
        raise kopf.PermanentError(f"the operator cannot start: {exc}") from exc


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    runtime: Runtime | None = memo.get("runtime")
    if runtime is not None:
        await runtime.stop()


@kopf.on.event(API_GROUP, API_VERSION, SCHEDULE_PLURAL)
async def on_jobschedule(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    obj = cast(dict[str, Any], event["object"])
    key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
    # kopf hands a relist's objects over as events of type None: not in the
    # watch's order (see WorkQueue.watched).
    kind = event["type"]
    memo.runtime.schedules.add(key, GONE if kind == "DELETED" else obj, listed=kind is None)


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED_BY)
async def on_attempt_job(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    obj = cast(dict[str, Any], event["object"])
    key = (obj["metadata"]["namespace"], obj["metadata"]["name"])
    cache = memo.runtime.reconciler.attempt_jobs
    held = OUTCOME_FINALIZER in (obj["metadata"].get("finalizers") or [])
    if held:
        # Its outcome is still to be recorded (a DELETED event with the
        # finalizer held: relabelled out of the watch's selector, still ours
        # to release). Once released, a Job is read only if ever needed again.
        cache[key] = slim.attempt_job(obj)
    else:
        cache.pop(key, None)
    # An attempt that ended, its outcome not yet recorded, frees a dispatch
    # slot: served before new objects.
    frees_a_slot = held and (ended(obj) or event["type"] == "DELETED")
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("kind") == KIND and ref.get("apiVersion", "").startswith(API_GROUP):
            owner = (obj["metadata"]["namespace"], ref["name"])
            memo.runtime.work.add(owner, urgent=frees_a_slot)
