"""cleanup handler: delete finished BackgroundJobs older than a cutoff.

Payload ``{olderThan?: "7d", namespaces?: [...], phases?: [...], dryRun?: false}``.
``olderThan`` takes days (``7d``) and Go durations (``36h``, ``1h30m``); age
counts from ``status.completedAt``. ``namespaces`` defaults to the job's own;
``phases`` to Completed, Failed and Cancelled. Deleting a BackgroundJob
deletes its batch Jobs and pods.

It talks to the Kubernetes API with its pod's service account (it needs
``list`` and ``delete`` on ``backgroundjobs.bgjobs.io`` in those namespaces;
the chart grants them), or a kubeconfig outside a cluster. Result
``{dryRun, olderThan, namespaces, deleted: {Completed: n, Failed: n, Cancelled: n}}``
(with ``dryRun`` the counts are what would be deleted).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Collection
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ConfigDict, Field, field_validator

from bgjobs_handler import Context, Payload, PermanentError, handler, run

GROUP, VERSION, PLURAL = "bgjobs.io", "v1alpha1", "backgroundjobs"
PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|m|s|ms)")
UNIT = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
Finished = Literal["Completed", "Failed", "Cancelled"]
ALL_FINISHED: tuple[Finished, ...] = ("Completed", "Failed", "Cancelled")
SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _in_cluster() -> bool:
    return os.path.exists(SA_TOKEN)


def parse_age(text: str) -> timedelta:
    if not re.fullmatch(r"(\d+(?:\.\d+)?(d|h|m|s|ms))+", text or ""):
        raise ValueError(f"{text!r} is not a duration such as 7d, 36h or 1h30m")
    return timedelta(seconds=sum(float(n) * UNIT[u] for n, u in PART.findall(text)))


class Cleanup(Payload):
    model_config = ConfigDict(populate_by_name=True)

    older_than: str = Field(default="7d", alias="olderThan")
    namespaces: list[str] = Field(default_factory=list)
    phases: list[Finished] = Field(default_factory=lambda: list(ALL_FINISHED))
    dry_run: bool = Field(default=False, alias="dryRun")

    @field_validator("older_than")
    @classmethod
    def _age(cls, value: str) -> str:
        parse_age(value)
        return value


async def _api(env: Any) -> ApiClient:
    cfg = client.Configuration()
    if _in_cluster():
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    else:
        await config.load_kube_config(config_file=env.get("KUBECONFIG"), client_configuration=cfg)
    return ApiClient(cfg)


async def _jobs(custom: client.CustomObjectsApi, ns: str) -> AsyncIterator[dict[str, Any]]:
    """Every BackgroundJob in ``ns``, listed 500 at a time."""
    token = ""
    while True:
        try:
            page = await custom.list_namespaced_custom_object(
                GROUP, VERSION, ns, PLURAL, limit=500, _continue=token
            )
        except ApiException as exc:
            if exc.status in (401, 403):
                raise PermanentError(f"not allowed to list BackgroundJobs in {ns}") from exc
            raise
        for obj in page.get("items", []):
            yield obj
        token = page.get("metadata", {}).get("continue")
        if not token:
            return


def expired_phase(obj: dict[str, Any], phases: Collection[str], cutoff: datetime) -> str | None:
    """The job's phase if it is one of ``phases`` and the job finished before ``cutoff``."""
    status = obj.get("status") or {}
    phase, done = status.get("phase"), status.get("completedAt")
    if phase not in phases or not done or datetime.fromisoformat(done) >= cutoff:
        return None
    return str(phase)


async def _delete(custom: client.CustomObjectsApi, ns: str, name: str) -> bool:
    """Delete one BackgroundJob (its Jobs and pods follow); False if it was gone already."""
    try:
        await custom.delete_namespaced_custom_object(
            GROUP, VERSION, ns, PLURAL, name, propagation_policy="Background"
        )
    except ApiException as exc:
        if exc.status == 404:
            return False
        if exc.status == 403:
            raise PermanentError(f"not allowed to delete BackgroundJobs in {ns}") from exc
        raise
    return True


async def _clean(payload: Cleanup, ctx: Context) -> dict[str, Any]:
    cutoff = datetime.now(UTC) - parse_age(payload.older_than)
    namespaces = payload.namespaces or [ctx.namespace]
    deleted: dict[str, int] = dict.fromkeys(payload.phases, 0)
    async with await _api(ctx.env) as api:
        custom = client.CustomObjectsApi(api)
        for ns in namespaces:
            async for obj in _jobs(custom, ns):
                phase = expired_phase(obj, deleted, cutoff)
                if phase is None:
                    continue
                if payload.dry_run or await _delete(custom, ns, obj["metadata"]["name"]):
                    deleted[phase] += 1
    return {
        "dryRun": payload.dry_run,
        "olderThan": payload.older_than,
        "namespaces": namespaces,
        "deleted": deleted,
    }


@handler(payload=Cleanup)
def cleanup(payload: Cleanup, ctx: Context) -> dict[str, Any]:
    return asyncio.run(_clean(payload, ctx))


if __name__ == "__main__":
    run(cleanup)
