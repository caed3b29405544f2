"""Enqueue and manage BackgroundJobs from application code.

    from bgjobs.client import Client

    jobs = Client(namespace="app")
    handle = jobs.enqueue("email", {"to": "ada@example.org", "subject": "Hi"}, priority="High")
    result = handle.wait(timeout=60)      # the handler's result, or raises JobFailed

``AsyncClient`` has the same methods as coroutines. Both work inside a pod
(its service account) and outside (kubeconfig, current context unless
``context`` is given). Errors are typed: :class:`NotFound`,
:class:`InvalidJob` (the API server's message, naming the field),
:class:`Forbidden`, :class:`NotRetryable`, :class:`NotCancellable`,
:class:`JobFailed`, :class:`WaitTimeout`; all derive from :class:`BgjobsError`.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bgjobs import API_GROUP, API_VERSION
from bgjobs.k8s import Kube, KubeError
from bgjobs.models.backgroundjob import KIND, PLURAL
from bgjobs.models.common import FINISHED_PHASES, Phase, Priority, parse_time
from bgjobs.models.durations import format_duration
from bgjobs.vocabulary import LABEL_PRIORITY, RETRY_ANNOTATION

T = TypeVar("T")


class BgjobsError(Exception):
    """Base of every error the client raises."""


class NotFound(BgjobsError):
    pass


class InvalidJob(BgjobsError):
    """The API server refused the job; the message is the server's and names the field."""


class Forbidden(BgjobsError):
    pass


class NotRetryable(BgjobsError):
    """Only a Failed job can be retried."""


class NotCancellable(BgjobsError):
    """A finished job (Completed, Failed or Cancelled) has nothing left to cancel."""


class WaitTimeout(BgjobsError):
    pass


class JobFailed(BgjobsError):
    """The job ended Failed or Cancelled; ``job`` holds its last state."""

    def __init__(self, job: Job) -> None:
        super().__init__(
            f"BackgroundJob {job.namespace}/{job.name} {job.phase} ({job.reason}): "
            f"{job.error or job.message}"
        )
        self.job = job


def _translate(exc: KubeError) -> BgjobsError:
    if exc.status == 404:
        return NotFound(str(exc))
    if exc.status == 422 or exc.status == 400:
        return InvalidJob(str(exc))
    if exc.status == 403:
        return Forbidden(str(exc))
    return BgjobsError(str(exc))


def _duration(value: str | timedelta | float | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, timedelta):
        return format_duration(value)
    return format_duration(timedelta(seconds=float(value)))


@dataclass(frozen=True)
class Job:
    """A read-only view of a BackgroundJob."""

    raw: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        return str(self.raw["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.raw["metadata"]["namespace"])

    @property
    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = self.raw.get("spec") or {}
        return out

    @property
    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = self.raw.get("status") or {}
        return out

    @property
    def type(self) -> str:
        return str(self.spec.get("type", ""))

    @property
    def priority(self) -> str:
        """The effective priority once the operator judged it, else the requested one."""
        labels = self.raw["metadata"].get("labels") or {}  # written by bgjobs 0.1
        value = (
            self.status.get("priority")
            or self.spec.get("priority")
            or labels.get(LABEL_PRIORITY)
            or ""
        )
        return str(value).capitalize()

    @property
    def phase(self) -> str:
        return str(self.status.get("phase") or "Pending")

    @property
    def reason(self) -> str:
        return str(self.status.get("reason") or "")

    @property
    def message(self) -> str:
        return str(self.status.get("message") or "")

    @property
    def error(self) -> str:
        return str(self.status.get("error") or "")

    @property
    def result(self) -> Any:
        return self.status.get("result")

    @property
    def retry_count(self) -> int:
        return int(self.status.get("retryCount") or 0)

    @property
    def attempts(self) -> list[dict[str, Any]]:
        return list(self.status.get("attempts") or [])

    @property
    def retry_pending(self) -> bool:
        """A retry was asked for (annotation) that the operator has not acted on yet."""
        token = (self.raw["metadata"].get("annotations") or {}).get(RETRY_ANNOTATION)
        return bool(token) and token != self.status.get("handledRetry")

    @property
    def finished(self) -> bool:
        return self.phase in FINISHED_PHASES and not self.retry_pending

    @property
    def created(self) -> datetime | None:
        return parse_time(self.raw["metadata"].get("creationTimestamp"))


@dataclass(frozen=True)
class JobList:
    items: list[Job]
    continue_token: str | None

    def __iter__(self) -> Iterator[Job]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class AsyncClient:
    """Async BackgroundJob client. Use ``async with AsyncClient() as c`` or ``await c.close()``."""

    def __init__(
        self,
        namespace: str | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        kube: Kube | None = None,
    ) -> None:
        self._namespace = namespace
        self._kubeconfig = kubeconfig
        self._context = context
        self._kube = kube

    async def _k(self) -> Kube:
        if self._kube is None:
            self._kube = await Kube.connect(self._kubeconfig, context=self._context)
        return self._kube

    def _ns(self, namespace: str | None) -> str:
        ns = namespace or self._namespace or Kube.default_namespace(self._kubeconfig, self._context)
        return ns

    async def close(self) -> None:
        if self._kube is not None:
            await self._kube.close()
            self._kube = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def enqueue(
        self,
        type: str,
        payload: Mapping[str, Any] | None = None,
        *,
        priority: str | None = None,
        delay: str | timedelta | float | None = None,
        run_at: datetime | str | None = None,
        retry_policy: Mapping[str, Any] | None = None,
        timeout: str | timedelta | float | None = None,
        ttl_after_finished: str | timedelta | float | None = None,
        namespace: str | None = None,
        name: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> AsyncJobHandle:
        """Create a BackgroundJob; returns a handle to follow it.

        ``name`` defaults to ``<type>-<random>``; ``delay`` and ``timeout``
        take a duration string (``"30s"``), a timedelta or seconds.
        """
        spec: dict[str, Any] = {"type": type, "payload": dict(payload or {})}
        if priority is not None:
            spec["priority"] = priority
        if delay is not None:
            spec["delay"] = _duration(delay)
        if run_at is not None:
            spec["runAt"] = run_at.isoformat() if isinstance(run_at, datetime) else run_at
        if retry_policy is not None:
            spec["retryPolicy"] = {
                k: _duration(v) if k in ("initialDelay", "maxDelay") else v
                for k, v in retry_policy.items()
            }
        if timeout is not None:
            spec["timeout"] = _duration(timeout)
        if ttl_after_finished is not None:
            spec["ttlAfterFinished"] = _duration(ttl_after_finished)
        ns = self._ns(namespace)
        job_name = name or f"{type.replace('_', '-')}-{secrets.token_hex(4)}"
        body = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": KIND,
            "metadata": {
                "name": job_name,
                "namespace": ns,
                "labels": dict(labels or {}),
                "annotations": dict(annotations or {}),
            },
            "spec": spec,
        }
        kube = await self._k()
        try:
            created, ok = await kube.create_custom(PLURAL, body)
        except KubeError as exc:
            raise _translate(exc) from exc
        if not ok or created is None:
            raise InvalidJob(f"BackgroundJob {ns}/{job_name} already exists")
        return AsyncJobHandle(self, Job(created))

    async def get(self, name: str, *, namespace: str | None = None) -> Job:
        kube = await self._k()
        try:
            obj = await kube.get_custom(PLURAL, self._ns(namespace), name)
        except KubeError as exc:
            raise _translate(exc) from exc
        if obj is None:
            raise NotFound(f"BackgroundJob {self._ns(namespace)}/{name} not found")
        return Job(obj)

    async def wait(
        self,
        name: str,
        *,
        timeout: float | None = None,
        namespace: str | None = None,
        poll: float = 0.5,
        on_poll: Callable[[Job], object] | None = None,
    ) -> Any:
        """Wait until the job finishes; return its result or raise :class:`JobFailed`.

        ``on_poll`` is called with every state read, the last one included
        (``kubectl bgjobs enqueue --wait`` shows them as a status line).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = await self.get(name, namespace=namespace)
            if on_poll is not None:
                on_poll(job)
            if job.finished and job.phase == "Completed":
                return job.result
            if job.finished:
                raise JobFailed(job)
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"BackgroundJob {job.namespace}/{name} still {job.phase} ({job.reason}) "
                    f"after {timeout:g}s"
                )
            await asyncio.sleep(poll)

    async def retry(self, name: str, *, namespace: str | None = None) -> Job:
        """Send a Failed job back to Pending (the ``bgjobs.io/retry`` annotation)."""
        job = await self.get(name, namespace=namespace)
        if job.phase != "Failed":
            raise NotRetryable(
                f"BackgroundJob {job.namespace}/{name} is {job.phase}: only a Failed job "
                "can be retried"
            )
        return await self._patch(job, {"metadata": {"annotations": {RETRY_ANNOTATION: _token()}}})

    async def cancel(self, name: str, *, namespace: str | None = None) -> Job:
        """Set ``spec.cancel``: queued work is dropped, a running attempt is stopped."""
        job = await self.get(name, namespace=namespace)
        if job.finished:
            raise NotCancellable(f"BackgroundJob {job.namespace}/{name} is already {job.phase}")
        return await self._patch(job, {"spec": {"cancel": True}})

    async def list(
        self,
        *,
        type: str | None = None,
        phase: str | None = None,
        priority: str | None = None,
        labels: Mapping[str, str] | str | None = None,
        namespace: str | None = None,
        all_namespaces: bool = False,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> JobList:
        """BackgroundJobs matching the filters, chosen by the API server.

        ``type``, ``phase`` and ``priority`` (any case) are field selectors on
        the CRD's ``selectableFields``; ``labels`` a label selector.
        """
        selector = []
        if isinstance(labels, str):
            selector.append(labels)
        elif labels:
            selector += [f"{k}={v}" for k, v in labels.items()]
        kube = await self._k()
        try:
            page = await kube.list_custom_page(
                PLURAL,
                None if all_namespaces else self._ns(namespace),
                label_selector=",".join(selector) or None,
                field_selector=field_selector(type=type, phase=phase, priority=priority),
                limit=limit,
                continue_token=continue_token,
            )
        except KubeError as exc:
            raise _translate(exc) from exc
        token = page.get("metadata", {}).get("continue") or None
        return JobList([Job(o) for o in page.get("items", [])], token)

    async def _patch(self, job: Job, patch: dict[str, Any]) -> Job:
        kube = await self._k()
        try:
            out = await kube.patch_custom(PLURAL, job.namespace, job.name, patch)
        except KubeError as exc:
            raise _translate(exc) from exc
        return Job(out)


def _enum(kind: type[Phase] | type[Priority], value: str, what: str) -> str:
    for member in kind:
        if member.value.lower() == value.lower():
            return member.value
    choices = ", ".join(m.value for m in kind)
    raise ValueError(f"{what}: expected one of {choices}, got {value!r}")


def field_selector(
    *, type: str | None = None, phase: str | None = None, priority: str | None = None
) -> str | None:
    """A field selector for BackgroundJobs (values in any case); None if no filter.

    Pending also matches a job no operator has judged yet (no phase at all),
    so it is written as "none of the other phases".
    """
    terms = []
    if type:
        terms.append(f"spec.type={type}")
    if phase:
        wanted = _enum(Phase, phase, "phase")
        if wanted == Phase.PENDING:
            terms += [f"status.phase!={p.value}" for p in Phase if p != Phase.PENDING]
        else:
            terms.append(f"status.phase={wanted}")
    if priority:
        terms.append(f"status.priority={_enum(Priority, priority, 'priority')}")
    return ",".join(terms) or None


def _token() -> str:
    return f"{int(time.time())}-{secrets.token_hex(3)}"


class AsyncJobHandle:
    """A job just enqueued: ``await handle.wait()``, ``await handle.refresh()``."""

    def __init__(self, client: AsyncClient, job: Job) -> None:
        self.client = client
        self.job = job

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def namespace(self) -> str:
        return self.job.namespace

    async def refresh(self) -> Job:
        self.job = await self.client.get(self.name, namespace=self.namespace)
        return self.job

    async def wait(self, timeout: float | None = None) -> Any:
        return await self.client.wait(self.name, timeout=timeout, namespace=self.namespace)

    async def cancel(self) -> Job:
        return await self.client.cancel(self.name, namespace=self.namespace)


class _Loop:
    """A private event loop on a daemon thread, for the synchronous client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="bgjobs")
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class Client:
    """Synchronous BackgroundJob client: the methods of :class:`AsyncClient`, blocking."""

    def __init__(
        self,
        namespace: str | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
    ) -> None:
        self._loop = _Loop()
        self._async = AsyncClient(namespace, kubeconfig=kubeconfig, context=context)

    def close(self) -> None:
        self._loop.run(self._async.close())
        self._loop.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def enqueue(self, type: str, payload: Mapping[str, Any] | None = None, **kw: Any) -> JobHandle:
        handle = self._loop.run(self._async.enqueue(type, payload, **kw))
        return JobHandle(self, handle.job)

    def get(self, name: str, *, namespace: str | None = None) -> Job:
        return self._loop.run(self._async.get(name, namespace=namespace))

    def wait(self, name: str, *, timeout: float | None = None, namespace: str | None = None) -> Any:
        return self._loop.run(self._async.wait(name, timeout=timeout, namespace=namespace))

    def retry(self, name: str, *, namespace: str | None = None) -> Job:
        return self._loop.run(self._async.retry(name, namespace=namespace))

    def cancel(self, name: str, *, namespace: str | None = None) -> Job:
        return self._loop.run(self._async.cancel(name, namespace=namespace))

    def list(self, **kw: Any) -> JobList:
        return self._loop.run(self._async.list(**kw))


class JobHandle:
    """A job just enqueued: ``handle.wait()``, ``handle.refresh()``, ``handle.cancel()``."""

    def __init__(self, client: Client, job: Job) -> None:
        self.client = client
        self.job = job

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def namespace(self) -> str:
        return self.job.namespace

    def refresh(self) -> Job:
        self.job = self.client.get(self.name, namespace=self.namespace)
        return self.job

    def wait(self, timeout: float | None = None) -> Any:
        return self.client.wait(self.name, timeout=timeout, namespace=self.namespace)

    def cancel(self) -> Job:
        return self.client.cancel(self.name, namespace=self.namespace)
