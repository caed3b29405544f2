"""A per-key work queue, as controllers use: deduplicated, serial per key, retried.

Watch events only *mark* a key dirty (with the newest body seen); workers
reconcile each key at most once at a time, always from the newest body. A
failed reconcile is retried with exponential backoff; a conflict is retried
at once from a fresh read.

Which body is the newest is decided without comparing resourceVersions
(the API calls them opaque): the watch delivers one object's versions in
order, so after a reconcile's own write (version R) every version the watch
delivers before R is older than R. Those are held back until R's own event
arrives (then they are dropped). R's event may never come (a relist passed
it, a watch restarted): after ``AWAIT_SECONDS`` the newest held version is
taken, and the key reconciled again; a reconcile from a version older than
the object's current one ends in a conflict and a fresh read, never a lost
write. A held version does not make the key dirty.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from bgjobs.runtime.health import Health, supervise, transient

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (namespace, name)


class Marker(enum.Enum):
    """What a reconcile gets instead of a body."""

    FETCH = "fetch"  # nothing known: read the object from the API server
    GONE = "gone"  # the object was deleted


FETCH: Final = Marker.FETCH
GONE: Final = Marker.GONE
#: What a reconcile is handed: the object as the API server serves it, or a marker.
Body = dict[str, Any] | Marker


@dataclass
class _Item:
    seen_at: float  # wall clock of the first event seen for the key


Handler = Callable[[Key, Body, float], Awaitable[None]]
#: What to keep of each body seen (e.g. less than the whole object), and the
#: body a reconcile reads from what was kept.
Keep = Callable[[Any], Any]
Expand = Callable[[Any], Any]


def _whole(body: Any) -> Any:
    return body


#: How long an own write's version is awaited from the watch before what the
#: watch delivered meanwhile is taken (it normally comes within milliseconds).
AWAIT_SECONDS = 5.0


class Requeue(Exception):
    """Raise from a handler to run the key again after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0, fresh: bool = True) -> None:
        super().__init__(f"requeue in {delay}s")
        self.delay = delay
        self.fresh = fresh


class WorkQueue:
    def __init__(
        self,
        *,
        workers: int = 8,
        keep: Keep = _whole,
        expand: Expand = _whole,
        await_seconds: float = AWAIT_SECONDS,
    ) -> None:
        self._workers = workers
        self._await_seconds = await_seconds
        self._keep = keep
        self._expand = expand
        self._items: dict[Key, _Item] = {}
        # (lane, seq, key): lane 0 is for keys that hold a dispatch slot, so a
        # job that may start does not wait behind a burst of new ones.
        self._queue: asyncio.PriorityQueue[tuple[int, int, Key]] = asyncio.PriorityQueue()
        self._seq = 0
        self._urgent: set[Key] = set()
        self._queued: set[Key] = set()
        self._active: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._bodies: dict[Key, Any] = {}  # newest known body (cache), as kept
        # Own writes whose watch event has not come yet: key -> its version;
        # and the newest body the watch delivered meanwhile (held back).
        self._awaiting: dict[Key, str] = {}
        self._held: dict[Key, dict[str, Any]] = {}
        # Versions known while the key's reconcile runs: the one it started
        # from and those the watch delivered since.
        self._delivered: dict[Key, set[str]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()

    # Producers ---------------------------------------------------------------

    def add(
        self,
        key: Key,
        body: Body = FETCH,
        *,
        urgent: bool = False,
        seen_at: float | None = None,
        listed: bool = False,
    ) -> None:
        """Mark ``key`` dirty; ``body`` is the version the watch delivered, if any.

        ``urgent`` keys are served before the others. ``seen_at``: when the
        event was seen, if not now. ``listed``: the body comes from a list,
        not in the watch's order.
        """
        if body is not FETCH and not self.watched(key, body, listed=listed) and not urgent:
            return  # older than what is known, or what a reconcile wrote itself
        if key not in self._items:
            self._items[key] = _Item(time.time() if seen_at is None else seen_at)
        if urgent and key not in self._urgent:
            self._urgent.add(key)
            if key in self._queued:  # move it up: a second entry in the fast lane
                self._put(key, 0)
                return
        if key not in self._queued and key not in self._active:
            self._queued.add(key)
            self._put(key, 0 if key in self._urgent else 1)

    def _put(self, key: Key, lane: int) -> None:
        self._seq += 1
        self._queue.put_nowait((lane, self._seq, key))

    def add_after(self, key: Key, delay: float, *, seen_at: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            self.add(key, seen_at=seen_at)

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def watched(self, key: Key, body: Body, *, listed: bool = False) -> bool:
        """A version from the watch (or a list): kept unless an own write is newer.
        False when it is older than what is known (no news to reconcile)."""
        if isinstance(body, Marker):  # GONE
            self._stop_waiting(key)
            self._bodies[key] = GONE
            return True
        version = _version(body)
        if key in self._delivered:
            self._delivered[key].add(version)
        if listed:  # a list is not in the watch's order: take it as it comes
            self._stop_waiting(key)
        awaited = self._awaiting.get(key)
        if awaited is not None and awaited != version:
            self._held[key] = body  # delivered before the own write's version: older
            return False
        self._stop_waiting(key)
        self._bodies[key] = self._keep(body)
        return True

    def wrote(self, key: Key, body: dict[str, Any]) -> None:
        """The result of the running reconcile's own write: the newest version,
        unless its version is known already (delivered by the watch, or the one
        the reconcile started from: a write that changed nothing). The watch's
        versions are then held back until the write's own event comes (or for
        AWAIT_SECONDS); that event marks the key dirty like any other."""
        version = _version(body)
        if version in self._delivered.get(key, ()):
            return
        self._bodies[key] = self._keep(body)
        self._awaiting[key] = version
        self._held.pop(key, None)
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def give_up() -> None:
            self._timers.discard(handle)
            if self._awaiting.get(key) != version:
                return  # its event came, or a newer version is awaited
            del self._awaiting[key]
            held = self._held.pop(key, None)
            if held is not None:
                log.info("%s/%s: version %s never came from the watch", *key, version)
                self._bodies[key] = self._keep(held)
                self.add(key)

        handle = loop.call_later(self._await_seconds, give_up)
        self._timers.add(handle)

    def read(self, key: Key, body: dict[str, Any] | None) -> None:
        """An object read from the API server (None: not found), kept where the
        watch left nothing (or only a deletion, before it was created again);
        whatever the watch brings next replaces it."""
        if self._bodies.get(key, FETCH) in (FETCH, GONE):
            self._bodies[key] = GONE if body is None else self._keep(body)

    def _stop_waiting(self, key: Key) -> None:
        self._awaiting.pop(key, None)
        self._held.pop(key, None)

    def cached(self, key: Key) -> Body:
        kept = self._bodies.get(key, FETCH)
        return kept if isinstance(kept, Marker) else self._expand(kept)

    def busy(self, key: Key) -> bool:
        """``key`` waits for a worker or is being reconciled."""
        return key in self._queued or key in self._active or key in self._items

    def keys(self) -> Iterator[Key]:
        return iter([k for k, b in self._bodies.items() if b is not GONE])

    def kept(self) -> Iterator[Any]:
        """What is cached, as kept (for counting)."""
        return iter(list(self._bodies.values()))

    # Workers -----------------------------------------------------------------

    def start(self, handler: Handler, health: Health, name: str = "workers") -> None:
        """Start the workers, each supervised (restarted if it ever fails)."""

        def work() -> Awaitable[None]:
            return self._work(handler, lambda: health.ok(name))

        for i in range(self._workers):
            task = asyncio.create_task(supervise(name, work, health), name=f"bgjobs-{name}-{i}")
            self._tasks.append(task)

    async def stop(self) -> None:
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _work(self, handler: Handler, ok: Callable[[], None]) -> None:
        while True:
            _, _, key = await self._queue.get()
            if key not in self._queued:
                continue  # a stale second entry: the key moved lanes and was served
            self._queued.discard(key)
            self._urgent.discard(key)
            item = self._items.pop(key, None)
            if item is None:
                continue
            self._active.add(key)
            body = self.cached(key)
            self._delivered[key] = {_version(body)} if isinstance(body, dict) else set()
            try:
                # The newest body known now: our own writes since the key was
                # marked dirty are newer than the one it was marked with.
                await handler(key, body, item.seen_at)
                self._failures.pop(key, None)
                ok()
            except Requeue as req:
                self._retry_later(key, req.delay, fresh=req.fresh, seen_at=item.seen_at)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
                delay = min(0.25 * 2 ** (n - 1), 30.0)
                # A bug's traceback once per key (an outage's would be noise).
                log.warning(
                    "reconcile %s/%s failed (try %d), again in %.1fs: %s",
                    key[0],
                    key[1],
                    n,
                    delay,
                    exc,
                    exc_info=n == 1 and not transient(exc),
                )
                self._retry_later(key, delay, fresh=True, seen_at=item.seen_at)
            finally:
                self._active.discard(key)
                del self._delivered[key]
                if key in self._items and key not in self._queued:
                    self._queued.add(key)
                    self._put(key, 0 if key in self._urgent else 1)
                if self._bodies.get(key, FETCH) is GONE and key not in self._items:
                    self._bodies.pop(key, None)
                    self._stop_waiting(key)

    def _retry_later(self, key: Key, delay: float, *, fresh: bool, seen_at: float) -> None:
        """Run ``key`` again; it keeps the time it was first seen (its FIFO place)."""
        if fresh and self._bodies.get(key) is not GONE:
            self._bodies.pop(key, None)
            self._stop_waiting(key)
        if delay <= 0:
            self.add(key, seen_at=seen_at)
        else:
            self.add_after(key, delay, seen_at=seen_at)


def _version(body: dict[str, Any]) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")
