"""One async Kubernetes client for the operator, returning plain dicts.

Objects come back as the API server's JSON (camelCase keys), so the pure
logic reads them exactly as ``kubectl get -o json`` shows them. API errors
are the project's own (:mod:`bgjobs.k8s.errors`): :class:`NotFound`,
:class:`Conflict`, :class:`KubeError` (with the server's message).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import yaml
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.api_client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.client.rest import RESTClientObject

from bgjobs import API_GROUP, API_VERSION
from bgjobs.k8s.errors import Conflict, KubeError, NotFound, api_errors, error_for
from bgjobs.k8s.events import EventSeries, Series, SeriesKey
from bgjobs.models.backgroundjob import PLURAL

log = logging.getLogger(__name__)
COMPONENT = "bgjobs-operator"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
SA_TOKEN = f"{SA_DIR}/token"
SA_NAMESPACE = f"{SA_DIR}/namespace"
MERGE = "application/merge-patch+json"
#: A watch request may stay quiet this long (the server ends it after its
#: ``timeoutSeconds``, a few minutes); past it the connection is taken as dead.
WATCH_READ_TIMEOUT = 360.0


def _in_cluster() -> bool:
    return os.path.exists(SA_TOKEN)


class TimedRESTClient(RESTClientObject):
    """The client's transport, with a deadline on every request.

    ``kubernetes_asyncio`` waits for ever by default: a half-open connection
    would hang a reconcile, a Lease renewal or the start-up LIST. Here a
    request that names no timeout gets ``timeout`` seconds (a watch: a read
    timeout past the server's own end of the watch), and a connection that
    fails or times out raises :class:`ApiException` with status 0, which
    :func:`api_errors` turns into a :class:`KubeError` with status 0: every
    caller handles it as it handles a refused request.
    """

    def __init__(self, configuration: client.Configuration, timeout: float) -> None:
        super().__init__(configuration)
        self.timeout = timeout
        proxies = urllib.request.getproxies_environment()
        if not any(k != "no" for k in proxies):  # NO_PROXY alone proxies nothing
            # The client's session trusts the environment, which means reading
            # ~/.netrc on every request (5% of the operator's time under load)
            # for credentials the kubeconfig or service account already give.
            # Proxies from the environment are all it would be needed for.
            trusting = self.pool_manager
            self.pool_manager = aiohttp.ClientSession(
                connector=trusting.connector,
                read_bufsize=2**21,  # as the client sets it
            )
            trusting.detach()

    async def request(  # type: ignore[no-untyped-def]
        self,
        method,
        url,
        query_params=None,
        headers=None,
        body=None,
        post_params=None,
        _preload_content=True,
        _request_timeout=None,
    ):
        if _request_timeout is None:
            watching = any(k == "watch" and v for k, v in query_params or [])
            _request_timeout = (
                aiohttp.ClientTimeout(sock_connect=self.timeout, sock_read=WATCH_READ_TIMEOUT)
                if watching
                else self.timeout
            )
        try:
            return await super().request(
                method,
                url,
                query_params,
                headers,
                body,
                post_params,
                _preload_content,
                _request_timeout,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _unreachable(exc, method, url) from exc


def _unreachable(exc: BaseException, method: str, url: str) -> ApiException:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    unreachable = ApiException(status=0, reason=f"{method} {url.split('?')[0]}: {reason}")
    unreachable.body = b""  # the generated client decodes the body of every ApiException
    return unreachable


async def _body(response: Any, what: str) -> bytes:
    """Read a ``_preload_content=False`` response; a non-2xx status raises like the client."""
    try:
        data: bytes = await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise KubeError(f"{what}: {type(exc).__name__}: {exc}", 0) from exc
    finally:
        response.release()
    status = getattr(response, "status", 200)
    if not 200 <= status < 300:
        raise error_for(status, data, data.decode(errors="replace"), what)
    return data


async def _json(response: Any, what: str = "request") -> Any:
    """Read a ``_preload_content=False`` response as JSON (raising on errors)."""
    return json.loads(await _body(response, what))


class Kube:
    """Thin async wrappers over the calls the operator needs."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self._events: set[asyncio.Task[None]] = set()
        self._flushes: set[asyncio.Task[None]] = set()  # repeats written later
        self._event_slots = asyncio.Semaphore(16)
        self.event_series = EventSeries()

    @classmethod
    async def connect(
        cls,
        kubeconfig: str | None = None,
        *,
        context: str | None = None,
        request_timeout: float = 30.0,
    ) -> Kube:
        """In a pod: the service account; elsewhere: the kubeconfig (and ``context``).

        Every request gets ``request_timeout`` seconds unless it names its own.
        """
        cfg = client.Configuration()
        if kubeconfig is None and context is None and _in_cluster():
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            try:
                await config.load_kube_config(
                    config_file=kubeconfig, context=context, client_configuration=cfg
                )
            except (config.ConfigException, FileNotFoundError) as exc:
                raise KubeError(f"no usable kubeconfig: {exc}") from exc
        api = ApiClient(cfg)
        untimed, api.rest_client = api.rest_client, TimedRESTClient(cfg, request_timeout)
        await untimed.close()
        return cls(api)

    @staticmethod
    def default_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
        """The namespace of the kubeconfig context, the pod's own, else ``default``."""
        if kubeconfig is None and context is None and os.path.exists(SA_NAMESPACE):
            with open(SA_NAMESPACE) as f:
                return f.read().strip() or "default"
        path = kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)[0]
        try:
            with open(os.path.expanduser(path)) as f:
                doc = yaml.safe_load(f) or {}
        except OSError:
            return "default"
        name = context or doc.get("current-context")
        for ctx in doc.get("contexts") or []:
            if ctx.get("name") == name:
                return str((ctx.get("context") or {}).get("namespace") or "default")
        return "default"

    async def wait_reachable(self, *, max_delay: float = 10.0) -> None:
        """Return once the API server answers; until then, log and try again.

        Only an unreachable or overloaded server is waited for; a refusal
        (401, 403) raises :class:`KubeError`: waiting would not cure it.
        """
        delay = 0.5
        while True:
            try:
                with api_errors("ask the API server its version"):
                    await client.VersionApi(self.api).get_code()
                return
            except KubeError as exc:
                if exc.status not in (0, 429) and (exc.status or 0) < 500:
                    raise
                log.warning(
                    "the API server does not answer (%s); trying again in %.1fs", exc, delay
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)

    async def close(self) -> None:
        for task in self._flushes:
            task.cancel()
        if self._events:
            await asyncio.wait(self._events, timeout=5)
        await self.api.close()

    # BackgroundJobs -------------------------------------------------------

    async def get_bgjob(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self.get_custom(PLURAL, namespace, name)

    async def patch_bgjob(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self.patch_custom(PLURAL, namespace, name, patch)

    async def delete_bgjob(self, namespace: str, name: str, uid: str | None = None) -> bool:
        body = client.V1DeleteOptions(
            propagation_policy="Background",
            preconditions=client.V1Preconditions(uid=uid) if uid else None,
        )
        try:
            with api_errors(f"delete BackgroundJob {namespace}/{name}"):
                await self.custom.delete_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, PLURAL, name, body=body
                )
            return True
        except (NotFound, Conflict):  # gone, or another object of that name now
            return False

    # Any bgjobs.io kind ----------------------------------------------------------

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            with api_errors(f"get {plural} {namespace}/{name}"):
                obj: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, plural, name
                )
            return obj
        except NotFound:
            return None

    async def list_custom(
        self, plural: str, namespace: str, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        page = await self.list_custom_page(plural, namespace, label_selector=label_selector)
        items: list[dict[str, Any]] = page.get("items", [])
        return items

    async def list_custom_page(
        self,
        plural: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> dict[str, Any]:
        """One page of a list (``namespace`` None: all namespaces), with its continue token."""
        kwargs: dict[str, Any] = {}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        if limit:
            kwargs["limit"] = limit
        if continue_token:
            kwargs["_continue"] = continue_token
        with api_errors(f"list {plural}"):
            if namespace is None:
                page = await self.custom.list_cluster_custom_object(
                    API_GROUP, API_VERSION, plural, **kwargs
                )
            else:
                page = await self.custom.list_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, plural, **kwargs
                )
        out: dict[str, Any] = page
        return out

    async def create_custom(
        self, plural: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, bool]:
        """Create; (object, True), or (None, False) when the name exists already."""
        ns = body["metadata"]["namespace"]
        try:
            with api_errors(f"create {plural} {ns}/{body['metadata']['name']}"):
                obj: dict[str, Any] = await self.custom.create_namespaced_custom_object(
                    API_GROUP, API_VERSION, ns, plural, body
                )
            return obj, True
        except Conflict:
            return None, False

    async def patch_custom(
        self,
        plural: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        status: bool = False,
    ) -> dict[str, Any]:
        call = (
            self.custom.patch_namespaced_custom_object_status
            if status
            else self.custom.patch_namespaced_custom_object
        )
        with api_errors(f"patch {plural} {namespace}/{name}"):
            obj: dict[str, Any] = await call(
                API_GROUP,
                API_VERSION,
                namespace,
                plural,
                name,
                patch,
                _content_type=MERGE,  # type: ignore[call-arg]
            )
        return obj

    async def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        resource_version: str | None,
    ) -> dict[str, Any]:
        """Merge-patch ``status``; with a resourceVersion, a stale write is a Conflict."""
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return await self.patch_custom(plural, namespace, name, body, status=True)

    async def delete_custom(self, plural: str, namespace: str, name: str) -> bool:
        try:
            with api_errors(f"delete {plural} {namespace}/{name}"):
                await self.custom.delete_namespaced_custom_object(
                    API_GROUP,
                    API_VERSION,
                    namespace,
                    plural,
                    name,
                    body=client.V1DeleteOptions(propagation_policy="Background"),
                )
            return True
        except NotFound:
            return False

    # batch/v1 Jobs and pods -------------------------------------------------

    async def create_job(self, manifest: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create the Job; (job, created). An existing Job of that name is returned as is."""
        ns = manifest["metadata"]["namespace"]
        name = manifest["metadata"]["name"]
        what = f"create Job {ns}/{name}"
        try:
            with api_errors(what):
                resp = await self.batch.create_namespaced_job(
                    ns,
                    manifest,  # type: ignore[arg-type]  # a dict is sent as is
                    _preload_content=False,
                )
            return await _json(resp, what), True
        except Conflict:
            pass
        existing = await self.get_job(ns, name)
        if existing is None:
            raise Conflict(f"Job {ns}/{name} exists but cannot be read", 409)
        return existing, False

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        what = f"get Job {namespace}/{name}"
        try:
            with api_errors(what):
                resp = await self.batch.read_namespaced_job(name, namespace, _preload_content=False)
            job: dict[str, Any] = await _json(resp, what)
            return job
        except NotFound:
            return None

    async def delete_job(self, namespace: str, name: str) -> bool:
        what = f"delete Job {namespace}/{name}"
        try:
            with api_errors(what):
                resp = await self.batch.delete_namespaced_job(
                    name, namespace, propagation_policy="Background", _preload_content=False
                )
            await _body(resp, what)
            return True
        except NotFound:
            return False

    async def remove_finalizer(self, namespace: str, job_name: str, finalizer: str) -> None:
        """Take ``finalizer`` off a Job (others stay); a Job already gone is fine."""
        patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": [finalizer]}}
        what = f"release Job {namespace}/{job_name}"
        try:
            with api_errors(what):
                resp = await self.batch.patch_namespaced_job(
                    job_name,
                    namespace,
                    patch,
                    _content_type="application/strategic-merge-patch+json",  # type: ignore[call-arg]
                    _preload_content=False,
                )
            await _body(resp, what)
        except NotFound:
            return

    async def job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        what = f"list pods of Job {namespace}/{job_name}"
        with api_errors(what):
            resp = await self.core.list_namespaced_pod(
                namespace,
                label_selector=f"batch.kubernetes.io/job-name={job_name}",
                _preload_content=False,
            )
        pods: list[dict[str, Any]] = (await _json(resp, what)).get("items", [])
        return pods

    async def pod_log(self, namespace: str, pod: str, *, tail: int | None = None) -> str:
        kwargs: dict[str, Any] = {"_preload_content": False}
        if tail:
            kwargs["tail_lines"] = tail
        what = f"logs of pod {namespace}/{pod}"
        with api_errors(what):
            resp: Any = await self.core.read_namespaced_pod_log(pod, namespace, **kwargs)
        return (await _body(resp, what)).decode(errors="replace")

    async def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """Events about the object ``name``, oldest first."""
        what = f"events of {namespace}/{name}"
        with api_errors(what):
            resp = await self.core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={name}", _preload_content=False
            )
        items: list[dict[str, Any]] = (await _json(resp, what)).get("items", [])
        return sorted(items, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")

    # ConfigMaps and Events --------------------------------------------------

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        what = f"get ConfigMap {namespace}/{name}"
        try:
            with api_errors(what):
                resp = await self.core.read_namespaced_config_map(
                    name, namespace, _preload_content=False
                )
            cm: dict[str, Any] = await _json(resp, what)
            return cm
        except NotFound:
            return None

    async def watch_configmap(
        self, namespace: str, name: str, resource_version: str | None, seconds: int
    ) -> AsyncIterator[dict[str, Any] | None]:
        """The ConfigMap after each change (None once deleted), from
        ``resource_version`` until the server ends the watch (after ``seconds``)."""
        async with watch.Watch() as w:
            events = w.stream(
                self.core.list_namespaced_config_map,
                namespace,
                field_selector=f"metadata.name={name}",
                resource_version=resource_version,
                timeout_seconds=seconds,
            )
            with api_errors(f"watch ConfigMap {namespace}/{name}"):
                async for event in events:
                    yield None if event["type"] == "DELETED" else event["raw_object"]

    def emit(
        self,
        obj: dict[str, Any],
        *,
        type_: str,
        reason: str,
        message: str,
        repeats: bool = False,
    ) -> None:
        """Record an Event in the background: a reconcile never waits for one.

        ``repeats``: a reason that a loop may post again and again; its
        repeats are counted on one Event (see :mod:`bgjobs.k8s.events`).
        """
        if not repeats:
            self._spawn(lambda: self.post_event(obj, type_=type_, reason=reason, message=message))
            return
        meta = obj.get("metadata", {})
        key = (
            meta.get("namespace") or "",
            meta.get("uid") or meta.get("name") or "",
            type_,
            reason,
        )
        action, series = self.event_series.occurred(key, message)
        if action != "later":
            self._spawn(lambda: self._write_series(key, obj, series, type_, reason))
        elif series.name is not None:
            self._flush_soon(key, obj, series, type_, reason)

    def _spawn(self, work: Callable[[], Awaitable[Any]], *, flush: bool = False) -> None:
        async def run() -> None:
            if flush:
                await work()  # mostly waiting: it takes no slot until it writes
                return
            async with self._event_slots:
                await work()

        task = asyncio.get_running_loop().create_task(run())
        tasks = self._flushes if flush else self._events
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def _flush_soon(
        self, key: SeriesKey, obj: dict[str, Any], series: Series, type_: str, reason: str
    ) -> None:
        """Write the pending repeats once the series may be written again."""
        if series.flush_due:
            return
        series.flush_due = True

        async def flush() -> None:
            await asyncio.sleep(self.event_series.wait_for(series))
            series.flush_due = False
            if self.event_series.take(series):
                async with self._event_slots:
                    await self._write_series(key, obj, series, type_, reason)

        self._spawn(flush, flush=True)

    async def _write_series(
        self, key: SeriesKey, obj: dict[str, Any], series: Series, type_: str, reason: str
    ) -> None:
        namespace = obj.get("metadata", {}).get("namespace") or ""
        async with series.writing:
            if series.name is not None and await self._count_event(
                namespace, series.name, series.count, series.message
            ):
                return
            # The first occurrence, or the Event went (Events expire after an hour).
            series.name = await self.post_event(
                obj, type_=type_, reason=reason, message=series.message, count=series.count
            )
        if series.name is None:  # not recorded: the next occurrence tries again
            self.event_series.forget(key, series)
        elif series.pending:  # repeats came while it was being made
            self._flush_soon(key, obj, series, type_, reason)

    async def _count_event(self, namespace: str, name: str, count: int, message: str) -> bool:
        """Raise an Event's count (and refresh its message); False if it is gone."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"count": count, "lastTimestamp": now, "message": message[:1024]}
        what = f"count event {name}"
        try:
            with api_errors(what):
                resp = await self.core.patch_namespaced_event(
                    name,
                    namespace,
                    patch,
                    _content_type=MERGE,  # type: ignore[call-arg]
                    _preload_content=False,
                )
            await _body(resp, what)
        except KubeError as exc:
            if exc.status in (403, 404, 422):  # gone, or may not be patched: post it anew
                return False
            log.warning("could not count event %s: %s", name, exc)
        return True

    async def post_event(
        self, obj: dict[str, Any], *, type_: str, reason: str, message: str, count: int = 1
    ) -> str | None:
        """Record a core/v1 Event about ``obj``; returns its name. Failures are
        logged, never raised."""
        meta = obj.get("metadata", {})
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        # A plain dict: building client models costs more CPU than the call itself.
        event = {
            "metadata": {
                "generateName": f"{meta.get('name', 'bgjobs')}.",
                "namespace": meta.get("namespace"),
            },
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": count,
        }
        what = f"record event {reason}"
        try:
            with api_errors(what):
                resp = await self.core.create_namespaced_event(
                    meta.get("namespace"),
                    event,  # type: ignore[arg-type]  # a dict is sent as is
                    _preload_content=False,
                )
            created = await _json(resp, what)
        except KubeError as exc:
            log.warning("could not record event %s on %s: %s", reason, meta.get("name"), exc)
            return None
        name: str | None = created.get("metadata", {}).get("name")
        return name
