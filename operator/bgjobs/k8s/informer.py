"""List, then watch, one kind of custom object, as client-go's informers do.

kopf runs a task per object and keeps a memory of each; BackgroundJobs can
number 100,000, so the operator watches them itself. The list is read a page
at a time, each page handed over before the next is asked for (memory holds
one page, never the whole list); then a watch runs from the list's
resourceVersion, with bookmarks, and resumes from the last version seen after
any disconnect. When that version is gone (410) everything is listed again,
and an object known before but absent from the new list is reported
``GONE`` (its deletion was missed).

Errors other than a 410 escape to the caller's supervisor, which restarts
:meth:`Informer.run` after a backoff; the watch then resumes where it was.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from sys import intern
from typing import Any

from kubernetes_asyncio import watch

from bgjobs import API_GROUP, API_VERSION
from bgjobs.k8s.client import Kube
from bgjobs.k8s.errors import Gone, api_errors

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)
#: ``handle(kind, obj)``: kind is LISTED, ADDED, MODIFIED, DELETED or GONE.
Handle = Callable[[str, dict[str, Any]], Awaitable[None]]

PAGE = 500
WATCH_SECONDS = 270  # the server ends each watch after about this; it is resumed at once


class _RawWatch(watch.Watch):
    """Events as the JSON the server sent (no model to build: custom objects
    are dicts already, and kubernetes_asyncio would serialise and parse each
    one again to make the same dict)."""

    def get_return_type(self, func: object) -> str:
        return ""


class Informer:
    def __init__(
        self, kube: Kube, plural: str, namespace: str | None, handle: Handle, *, page: int = PAGE
    ) -> None:
        self.kube = kube
        self.plural = plural
        self.namespace = namespace
        self.handle = handle
        self.page = page
        self.version: str | None = None  # where the watch resumes; None: list first
        self.listed = False  # one whole list handed over since the start
        self.synced = asyncio.Event()  # set once listed
        self.known: set[Key] = set()
        where = f"namespace {namespace}" if namespace else "all namespaces"
        self.where = f"{plural} in {where}"

    async def run(self, ok: Callable[[], None]) -> None:
        while True:
            if self.version is None:
                await self._list()
                ok()
            started = time.monotonic()
            try:
                await self._watch(ok)
            except Gone:
                log.info("watch of %s: its version is gone; listing again", self.where)
                self.version = None
            if time.monotonic() - started < 1.0:
                await asyncio.sleep(1.0)  # a watch the server ends at once: not a busy loop

    async def _list(self) -> None:
        seen: set[Key] = set()
        token: str | None = None
        version: str | None = None
        while True:
            try:
                page = await self.kube.list_custom_page(
                    self.plural, self.namespace, limit=self.page, continue_token=token
                )
            except Gone:
                if token is None:
                    raise
                # The list's snapshot expired before its last page: start it again
                # (what was handed over already is handed over again: harmless).
                log.info("list of %s: its snapshot expired; listing again", self.where)
                seen, token, version = set(), None, None
                continue
            # The first page's version is the list's: every page is of that snapshot.
            version = version or page.get("metadata", {}).get("resourceVersion")
            for obj in page.get("items", []):
                meta = obj["metadata"]
                seen.add((intern(meta["namespace"]), meta["name"]))
                await self.handle("LISTED", obj)
            token = page.get("metadata", {}).get("continue")
            if not token:
                break
        for namespace, name in self.known - seen:
            await self.handle("GONE", {"metadata": {"namespace": namespace, "name": name}})
        self.known = seen
        self.version = version
        self.listed = True
        self.synced.set()

    async def _watch(self, ok: Callable[[], None]) -> None:
        custom = self.kube.custom
        args: tuple[Any, ...] = (API_GROUP, API_VERSION)
        if self.namespace is None:
            func: Any = custom.list_cluster_custom_object
            args += (self.plural,)
        else:
            func = custom.list_namespaced_custom_object
            args += (self.namespace, self.plural)
        async with _RawWatch() as stream:
            events = stream.stream(
                func,
                *args,
                resource_version=self.version,
                allow_watch_bookmarks=True,
                # Spread, so that the watches of several namespaces reconnect apart.
                timeout_seconds=WATCH_SECONDS + random.randrange(30),
            )
            with api_errors(f"watch {self.where}"):
                async for event in events:
                    await self._event(event)
                    ok()

    async def _event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        obj = event["raw_object"]
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self.version = meta["resourceVersion"]
        if kind == "BOOKMARK":
            return
        key = (intern(meta["namespace"]), meta["name"])
        if kind == "DELETED":
            self.known.discard(key)
        else:
            self.known.add(key)
        await self.handle(kind, obj)
