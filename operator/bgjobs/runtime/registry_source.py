"""Where the handler registry comes from, and how changes reach the operator.

Either a ConfigMap (key ``registry.yaml``, watched through the API server) or
a file (for local runs; checked for changes every second). A document that
does not parse is reported and ignored: the last good registry stays, and so
it does when the document disappears. Until a first registry has loaded,
``loaded`` is False: the operator is not ready, dispatches nothing and judges
no job's type (a job is never marked ``UnknownType`` for want of a registry).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from bgjobs.k8s import Kube
from bgjobs.models.registry import Registry, RegistryError, parse_registry

log = logging.getLogger(__name__)
DATA_KEY = "registry.yaml"
WATCH_SECONDS = 270  # the server ends each watch; the loop reads and watches again

OnChange = Callable[[Registry], None]


class RegistrySource:
    """Holds the current registry; ``run()`` keeps it up to date."""

    def __init__(self, initial: Registry | None = None) -> None:
        self.current = initial or Registry()
        self.loaded = initial is not None
        self.error: str | None = None
        self._listeners: list[OnChange] = []

    def subscribe(self, listener: OnChange) -> None:
        self._listeners.append(listener)

    def _apply(self, text: str | None, source: str) -> None:
        if text is None:
            if self.loaded:
                log.error("%s: the registry is gone; keeping the last good one", source)
            else:
                log.warning("%s: no registry yet; nothing is dispatched until one loads", source)
            return
        try:
            new = parse_registry(text, source)
        except RegistryError as exc:
            self.error = str(exc)
            log.error("ignoring the new registry, keeping the last good one: %s", exc)
            return
        self.error = None
        if new == self.current and self.loaded:
            return
        self.current, self.loaded = new, True
        log.info(
            "registry loaded from %s: types %s, maxConcurrentJobs %d",
            source,
            ", ".join(sorted(new.handlers)) or "(none)",
            new.max_concurrent_jobs,
        )
        for listener in self._listeners:
            listener(new)

    async def run(self, ok: Callable[[], None] = lambda: None) -> None:
        """Keep ``current`` up to date for ever; ``ok`` after each good read.

        Failures escape to the caller's supervisor (logged, counted, retried).
        """
        ok()
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

    async def run(self, ok: Callable[[], None] = lambda: None) -> None:
        while True:
            self.load()
            ok()
            await asyncio.sleep(1.0)


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
        self._apply(((cm or {}).get("data") or {}).get(DATA_KEY), self.source)
        rv: str | None = (cm or {}).get("metadata", {}).get("resourceVersion")
        return rv

    async def run(self, ok: Callable[[], None] = lambda: None) -> None:
        while True:
            rv = await self.load()
            ok()
            changes = self.kube.watch_configmap(self.namespace, self.name, rv, WATCH_SECONDS)
            async for cm in changes:
                self._apply(((cm or {}).get("data") or {}).get(DATA_KEY), self.source)
                ok()
