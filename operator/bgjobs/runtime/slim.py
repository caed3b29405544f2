"""What the operator keeps of an object between its reconciles.

Watch events bring whole objects: a BackgroundJob with its payload and
``managedFields`` (about half its size), an attempt Job with its pod template.
The caches keep what decisions read, so that memory follows what is live, not
history: a live object without ``managedFields``; a finished BackgroundJob as a
summary of the few fields its reconciles read (its retention, a manual retry
asked for, the attempt Jobs to release); an attempt Job as its metadata and
status only.
"""

from __future__ import annotations

from typing import Any

from bgjobs import API_GROUP
from bgjobs.models.backgroundjob import RETRY_ANNOTATION
from bgjobs.models.common import Phase

#: Marks a summary: never written back from (the reconciler reads the object first).
SLIM = f"{API_GROUP}/summary"
_HEAVY_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)
_IDENTITY = ("name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp")
_REFERENCE = ("apiVersion", "kind", "name", "uid")
_STATUS = ("phase", "reason", "completedAt", "handledRetry")


def metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` without ``managedFields`` and ``kubectl apply``'s copy of the object."""
    out = {k: v for k, v in meta.items() if k != "managedFields"}
    annotations = out.get("annotations")
    if annotations and any(a in annotations for a in _HEAVY_ANNOTATIONS):
        out["annotations"] = {k: v for k, v in annotations.items() if k not in _HEAVY_ANNOTATIONS}
    return out


def finished(body: dict[str, Any]) -> bool:
    """Finished for good. (A job refused as ``InvalidSpec`` is judged on its
    whole spec whenever the registry changes: it is rare, and kept whole.)"""
    status = body.get("status") or {}
    done = status.get("phase") in (Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED)
    return done and status.get("reason") != "InvalidSpec"


def summary(body: dict[str, Any]) -> dict[str, Any]:
    """A finished BackgroundJob as its reconciles read it (a few hundred bytes)."""
    meta = body["metadata"]
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    kept_meta = {k: meta[k] for k in _IDENTITY if k in meta}
    refs = meta.get("ownerReferences")
    if refs:
        kept_meta["ownerReferences"] = [{k: r[k] for k in _REFERENCE if k in r} for r in refs]
    retry = (meta.get("annotations") or {}).get(RETRY_ANNOTATION)
    if retry is not None:
        kept_meta["annotations"] = {RETRY_ANNOTATION: retry}
    kept_status = {k: status[k] for k in _STATUS if k in status}
    attempts = status.get("attempts")
    if attempts:  # their Jobs may still hold the outcome finalizer
        kept_status["attempts"] = [
            {"attempt": a["attempt"], "jobName": a["jobName"]}
            for a in attempts
            if "attempt" in a and "jobName" in a
        ]
    return {
        SLIM: True,
        "metadata": kept_meta,
        "spec": {k: spec[k] for k in ("type", "ttlAfterFinished") if k in spec},
        "status": kept_status,
    }


def keep_bgjob(body: Any) -> Any:
    """What the work queue keeps of a BackgroundJob."""
    if not isinstance(body, dict) or body.get(SLIM):
        return body
    if finished(body):
        return summary(body)
    return {**body, "metadata": metadata(body["metadata"])}


def attempt_job(body: dict[str, Any]) -> dict[str, Any]:
    """An attempt Job as its outcome needs it: metadata and status, no pod template."""
    return {"metadata": metadata(body["metadata"]), "status": body.get("status") or {}}
