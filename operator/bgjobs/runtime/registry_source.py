"""Where the handler registry comes from, and how changes reach the operator.

Either a ConfigMap (key ``registry.yaml``, watched through the API server) or
a file (for local runs; checked for changes every second). A document that
does not parse is reported and ignored: the last good registry stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from kubernetes_asyncio import watch

from bgjobs.k8s import Kube
from bgjobs.models.registry import Registry, RegistryError, parse_registry

log = logging.getLogger(__name__)
DATA_KEY = "registry.yaml"

OnChange = Callable[[Registry], None]


class RegistrySource:
    """Holds the current registry; ``run()`` keeps it up to date."""

    def __init__(self, initial: Registry | None = None) -> None:
        self.current = initial or Registry()
        self.error: str | None = None
        self._listeners: list[OnChange] = []

    def subscribe(self, listener: OnChange) -> None:
        self._listeners.append(listener)

    def _apply(self, text: str | None, source: str) -> None:
        if text is None:
            log.warning("%s: no registry found; no job type can run until one is", source)
            new = Registry()
        else:
            try:
                new = parse_registry(text, source)
            except RegistryError as exc:
                self.error = str(exc)
                log.error("ignoring the new registry, keeping the last good one: %s", exc)
                return
        self.error = None
        if new == self.current:
            return
        self.current = new
        log.info(
            "registry loaded from %s: types %s, maxConcurrentJobs %d",
            source,
            ", ".join(sorted(new.handlers)) or "(none)",
            new.max_concurrent_jobs,
        )
        for listener in self._listeners:
            listener(new)

    async def run(self) -> None:  # pragma: no cover - overridden
        await asyncio.Event().wait()


class FileRegistry(RegistrySource):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = Path(path)
        self._stamp: tuple[float, int] | None = None

    def load(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            if self._stamp != (0.0, -1):
                self._stamp = (0.0, -1)
                self._apply(None, str(self.path))
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            self._apply(self.path.read_text(), str(self.path))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.load()


class ConfigMapRegistry(RegistrySource):
    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        super().__init__()
        self.kube, self.namespace, self.name = kube, namespace, name

    @property
    def source(self) -> str:
        return f"ConfigMap {self.namespace}/{self.name}"

    async def load(self) -> str | None:
        """Read the ConfigMap once; returns its resourceVersion."""
        cm = await self.kube.get_configmap(self.namespace, self.name)
        self._apply(((cm or {}).get("data") or {}).get(DATA_KEY) if cm else None, self.source)
        rv: str | None = (cm or {}).get("metadata", {}).get("resourceVersion")
        return rv

    async def run(self) -> None:
        backoff = 1.0
        while True:
            try:
                rv = await self.load()
                async with watch.Watch() as w:
                    events = w.stream(
                        self.kube.core.list_namespaced_config_map,
                        self.namespace,
                        field_selector=f"metadata.name={self.name}",
                        resource_version=rv,
                        timeout_seconds=300,
                    )
                    async for event in events:
                        obj = event["object"]
                        if event["type"] == "DELETED":
                            self._apply(None, self.source)
                        else:
                            self._apply((obj.data or {}).get(DATA_KEY), self.source)
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("watching %s failed, again in %.0fs: %s", self.source, backoff, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
