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

from dataclasses import dataclass
from sys import intern
from typing import Any

from bgjobs.models.common import Phase
from bgjobs.vocabulary import RETRY_ANNOTATION, SUMMARY_MARK

#: Marks a summary: never written back from (the reconciler reads the object first).
SLIM = SUMMARY_MARK
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


@dataclass(frozen=True, slots=True)
class Summary:
    """A finished BackgroundJob as its reconciles read it: a few hundred bytes
    (about 2 KiB as the dicts :meth:`body` makes, so it is kept as this)."""

    namespace: str
    name: str
    uid: str | None
    resource_version: str | None
    owners: tuple[tuple[str, str, str], ...]  # (kind, name, uid) of each owner
    retry: str | None  # the retry annotation, if set
    type: str
    ttl: str | None
    phase: str
    reason: str | None
    completed_at: str | None
    handled_retry: str | None
    attempts: tuple[tuple[int, str], ...]  # (attempt, jobName): Jobs it may still hold

    @classmethod
    def of(cls, body: dict[str, Any]) -> Summary:
        meta = body["metadata"]
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        return cls(
            namespace=intern(meta["namespace"]),
            name=meta["name"],
            uid=meta.get("uid"),
            resource_version=meta.get("resourceVersion"),
            owners=tuple(
                (intern(r.get("kind", "")), r.get("name", ""), r.get("uid", ""))
                for r in meta.get("ownerReferences") or []
            ),
            retry=(meta.get("annotations") or {}).get(RETRY_ANNOTATION),
            type=intern(str(spec.get("type") or "")),
            ttl=spec.get("ttlAfterFinished"),
            phase=intern(status["phase"]),
            reason=intern(status["reason"]) if status.get("reason") else None,
            completed_at=status.get("completedAt"),
            handled_retry=status.get("handledRetry"),
            attempts=tuple(
                (a["attempt"], a["jobName"])
                for a in status.get("attempts") or []
                if "attempt" in a and "jobName" in a
            ),
        )

    def body(self) -> dict[str, Any]:
        """The object as far as it is known, marked :data:`SLIM`."""
        meta: dict[str, Any] = {"namespace": self.namespace, "name": self.name}
        if self.uid is not None:
            meta["uid"] = self.uid
        if self.resource_version is not None:
            meta["resourceVersion"] = self.resource_version
        if self.owners:
            meta["ownerReferences"] = [
                {"kind": kind, "name": name, "uid": uid} for kind, name, uid in self.owners
            ]
        if self.retry is not None:
            meta["annotations"] = {RETRY_ANNOTATION: self.retry}
        spec: dict[str, Any] = {"type": self.type}
        if self.ttl is not None:
            spec["ttlAfterFinished"] = self.ttl
        status: dict[str, Any] = {"phase": self.phase}
        for key, value in (
            ("reason", self.reason),
            ("completedAt", self.completed_at),
            ("handledRetry", self.handled_retry),
        ):
            if value is not None:
                status[key] = value
        if self.attempts:
            status["attempts"] = [{"attempt": n, "jobName": job} for n, job in self.attempts]
        return {SLIM: True, "metadata": meta, "spec": spec, "status": status}


def keep_bgjob(body: Any) -> Any:
    """What the work queue keeps of a BackgroundJob."""
    if not isinstance(body, dict):
        return body  # a Summary already, or a marker
    if finished(body):
        return Summary.of(body)
    return {**body, "metadata": metadata(body["metadata"])}


def expand(kept: Any) -> Any:
    """The body a reconcile reads from what :func:`keep_bgjob` kept."""
    return kept.body() if isinstance(kept, Summary) else kept


def attempt_job(body: dict[str, Any]) -> dict[str, Any]:
    """An attempt Job as its outcome needs it: metadata and status, no pod template."""
    return {"metadata": metadata(body["metadata"]), "status": body.get("status") or {}}
