"""Builders and helpers for BackgroundJob objects in tests."""

from __future__ import annotations

import builtins
from typing import Any

from kubernetes_asyncio import client
from kubernetes_asyncio.client.api_client import ApiClient

from bgjobs import API_GROUP, API_VERSION
from tests.support.poll import eventually

PLURAL = "backgroundjobs"


def bgjob(
    name: str,
    job_type: str = "work",
    *,
    fake: dict[str, Any] | None = None,
    payload: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A BackgroundJob; ``fake`` steers the fake pod (see docs/local-cluster.md)."""
    body_payload = dict(payload or {})
    if fake is not None:
        body_payload["_fake"] = fake
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "BackgroundJob",
        "metadata": {"name": name},
        "spec": {"type": job_type, "payload": body_payload, **spec},
    }


def registry(handlers: dict[str, dict[str, Any]] | None = None, **settings: Any) -> dict[str, Any]:
    """A registry document; each handler gets a placeholder image."""
    base = handlers if handlers is not None else {"work": {}}
    return {
        **settings,
        "handlers": {
            name: {"image": f"bgjobs.local/{name}:test", **cfg} for name, cfg in base.items()
        },
    }


class Jobs:
    """BackgroundJobs in one namespace."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await self.custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL, obj
        )
        return out

    async def get(self, name: str) -> dict[str, Any] | None:
        try:
            out: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, self.namespace, PLURAL, name
            )
            return out
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await self.custom.patch_namespaced_custom_object(
            API_GROUP,
            API_VERSION,
            self.namespace,
            PLURAL,
            name,
            patch,
            _content_type="application/merge-patch+json",  # type: ignore[call-arg]
        )
        return out

    async def list(self) -> builtins.list[dict[str, Any]]:
        out = await self.custom.list_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, PLURAL
        )
        items: builtins.list[dict[str, Any]] = out["items"]
        return items

    async def wait(self, name: str, *phases: str, within: float = 60) -> dict[str, Any]:
        """Wait until the job's phase is one of ``phases``; return the object."""

        async def probe() -> dict[str, Any] | None:
            obj = await self.get(name)
            phase = ((obj or {}).get("status") or {}).get("phase")
            return obj if phase in phases else None

        return await eventually(probe, within=within, what=f"{name} to be {'/'.join(phases)}")

    # `list` is a method here: the type is builtins.list.
    async def batch_jobs(self, owner: str | None = None) -> builtins.list[Any]:
        sel = f"bgjobs.io/job={owner}" if owner else "app.kubernetes.io/managed-by=bgjobs"
        jobs = await self.batch.list_namespaced_job(self.namespace, label_selector=sel)
        return list(jobs.items)

    async def events(self, name: str) -> builtins.list[Any]:
        core = client.CoreV1Api(self.api)
        got = await core.list_namespaced_event(
            self.namespace, field_selector=f"involvedObject.name={name}"
        )
        return list(got.items)


def status(obj: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = obj.get("status") or {}
    return out


def jobschedule(
    name: str,
    schedule: str,
    job_type: str = "work",
    *,
    fake: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A JobSchedule whose template runs ``job_type`` (``fake`` steers the pods)."""
    payload = {"_fake": fake} if fake is not None else {}
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "JobSchedule",
        "metadata": {"name": name},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"labels": {"team": "test"}},
                "spec": {"type": job_type, "payload": payload},
            },
            **spec,
        },
    }


class Schedules:
    """JobSchedules in one namespace."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self.custom = client.CustomObjectsApi(api)

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await self.custom.create_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, "jobschedules", obj
        )
        return out

    async def get(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = await self.custom.get_namespaced_custom_object(
            API_GROUP, API_VERSION, self.namespace, "jobschedules", name
        )
        return out

    async def patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = await self.custom.patch_namespaced_custom_object(
            API_GROUP,
            API_VERSION,
            self.namespace,
            "jobschedules",
            name,
            patch,
            _content_type="application/merge-patch+json",  # type: ignore[call-arg]
        )
        return out


async def wait_events(
    jobs: Jobs, name: str, check: Any, *, within: float = 30, what: str = "events"
) -> list[Any]:
    """Events about ``name`` once ``check(events)`` holds (the operator posts them
    in the background, so they can trail the state change they describe)."""

    async def probe() -> list[Any] | None:
        events = await jobs.events(name)
        return events if check(events) else None

    return await eventually(probe, within=within, what=f"{what} for {name}")
