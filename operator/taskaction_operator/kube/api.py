"""The Kubernetes API client of the whole package: async, one connection pool, bounded concurrency, a client-side
rate limit that honours 429 Retry-After, metrics for every request. Objects come and go as plain JSON dicts (no
model deserialization on the hot path), decoded by orjson: decoding watch events and responses was the largest
single cost of the operator's CPU with the stdlib's json (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import codecs
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from .. import metrics, tracing
from ..api import constants as c
from .errors import ApiError, api_error, unless_missing
from .throttle import TokenBucket
from .transport import Timeout, Transport

logger = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
MAX_THROTTLE_RETRIES = 5
DEFAULT_TIMEOUT_SECONDS = 30.0
LIST_PAGE_SIZE = 500
TASKACTIONS = f"/apis/{c.GROUP}/{c.VERSION}"
CORE = "/api/v1"
LEASES = "/apis/coordination.k8s.io/v1"


def _in(namespace: str | None, plural: str, name: str = "", base: str = CORE) -> str:
    """The path of a collection (or one object of it) in a namespace, or across all of them (namespace None)."""
    path = f"{base}/namespaces/{namespace}/{plural}" if namespace is not None else f"{base}/{plural}"
    return f"{path}/{name}" if name else path


def _taskactions(namespace: str | None, name: str = "", subresource: str = "") -> str:
    path = _in(namespace, c.PLURAL, name, TASKACTIONS)
    return f"{path}/{subresource}" if subresource else path


def _listing(label_selector: str, limit: int, cont: str | None) -> dict[str, str]:
    params = {"limit": str(limit)}
    if label_selector:
        params["labelSelector"] = label_selector
    if cont:
        params["continue"] = cont
    return params


class KubeApi:
    def __init__(self, transport: Transport, qps: float, burst: int, max_inflight: int, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS):
        self.transport = transport
        self.timeout_seconds = timeout_seconds
        self.bucket = TokenBucket(qps, burst)
        self.inflight = asyncio.Semaphore(max_inflight)

    async def _send(self, verb: str, resource: str, method: str, path: str, timeout: Timeout | None = None, **request: Any) -> Any:
        """The response of one request (not read yet), after the rate limit and any 429 retries; a non-2xx answer
        raises ApiError. Every request is bounded in time (`timeout`, the client's by default): a half-open
        connection raises a timeout instead of hanging its caller. `request`: Transport.request's params, body,
        content_type."""
        for attempt in range(MAX_THROTTLE_RETRIES + 1):
            await self.bucket.take()
            started = time.monotonic()
            response = await self.transport.request(method, path, timeout or self.timeout_seconds, **request)
            metrics.API_SECONDS.labels(verb, resource).observe(time.monotonic() - started)
            metrics.API_REQUESTS.labels(verb, resource, str(response.status)).inc()
            if 200 <= response.status <= 299:
                return response
            try:
                payload = await response.read()
            finally:
                response.release()
            if response.status == 429 and attempt < MAX_THROTTLE_RETRIES:
                delay = float(response.headers.get("Retry-After") or 1)
                logger.warning("API server throttled %s %s; retrying after %.1fs", verb, resource, delay)
                await asyncio.sleep(delay)
                continue
            raise api_error(response.status, payload)
        raise AssertionError("unreachable")

    async def _read(self, verb: str, resource: str, method: str, path: str, **kwargs: Any) -> bytes:
        async with self.inflight:
            with tracing.span(f"kube {verb} {resource}", **{"k8s.verb": verb, "k8s.resource": resource}):
                response = await self._send(verb, resource, method, path, **kwargs)
                try:
                    return await response.read()
                finally:
                    response.release()

    async def _call(self, verb: str, resource: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        payload = await self._read(verb, resource, method, path, **kwargs)
        return orjson.loads(payload) if payload else {}

    # TaskActions ---------------------------------------------------------------------------------------------

    async def get_taskaction(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", c.PLURAL, "GET", _taskactions(namespace, name)))

    async def create_taskaction(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("create", c.PLURAL, "POST", _taskactions(namespace), body=body)

    async def patch_taskaction(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self._call("patch", c.PLURAL, "PATCH", _taskactions(namespace, name), body=patch, content_type=MERGE_PATCH)

    async def patch_taskaction_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        path = _taskactions(namespace, name, "status")
        return await self._call("patch", f"{c.PLURAL}/status", "PATCH", path, body=patch, content_type=MERGE_PATCH)

    async def delete_taskaction(self, namespace: str, name: str) -> bool:
        """True when deleted, False when it was already gone."""
        status = await unless_missing(self._call("delete", c.PLURAL, "DELETE", _taskactions(namespace, name)))
        return status is not None

    async def list_taskactions(self, namespace: str | None, label_selector: str, limit: int, cont: str | None) -> dict[str, Any]:
        """One page, straight from the API server (not the watch cache: it refuses `continue`)."""
        return await self._call("list", c.PLURAL, "GET", _taskactions(namespace), params=_listing(label_selector, limit, cont))

    async def list_all_taskactions(self, namespace: str, label_selector: str) -> tuple[list[dict[str, Any]], str]:
        """Every matching TaskAction (all pages) and the list's resourceVersion (to watch from)."""
        items: list[dict[str, Any]] = []
        cont: str | None = None
        while True:
            page = await self.list_taskactions(namespace, label_selector, LIST_PAGE_SIZE, cont)
            items += page.get("items") or []
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items, (page.get("metadata") or {}).get("resourceVersion", "")

    async def watch_taskactions(
        self, namespace: str | None, label_selector: str, resource_version: str, timeout_seconds: int = 60
    ) -> AsyncIterator[dict[str, Any]]:
        """Raw watch events `{"type", "object"}` (JSON dicts) until the server ends the watch; namespace None: all of
        them. A 410 Gone arrives as an ERROR event whose object is a Status: the caller lists again."""
        async for event in self._watch(c.PLURAL, _taskactions(namespace), label_selector, resource_version, timeout_seconds):
            yield event

    async def watch_pods(
        self, namespace: str | None, label_selector: str, resource_version: str, timeout_seconds: int = 60
    ) -> AsyncIterator[dict[str, Any]]:
        """As watch_taskactions, of pods."""
        async for event in self._watch("pods", _in(namespace, "pods"), label_selector, resource_version, timeout_seconds):
            yield event

    async def _watch(self, resource: str, path: str, label_selector: str, resource_version: str, timeout_seconds: int) -> AsyncIterator[dict[str, Any]]:
        """One event per line of the response. A watch holds no in-flight slot: it lasts, and the slots bound the
        short requests."""
        params = {"watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout_seconds), "resourceVersion": resource_version}
        if label_selector:
            params["labelSelector"] = label_selector
        response = await self._send("watch", resource, "GET", path, params=params, timeout=timeout_seconds + 30)
        try:
            async for line in response.content:
                if line.strip():
                    yield orjson.loads(line)
        finally:
            response.release()

    # Pods, PodTemplates, Events, namespaces ------------------------------------------------------------------

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "pods", "GET", _in(namespace, "pods", name)))

    async def list_pods(self, namespace: str | None, label_selector: str, limit: int, cont: str | None) -> dict[str, Any]:
        """One page, straight from the API server."""
        return await self._call("list", "pods", "GET", _in(namespace, "pods"), params=_listing(label_selector, limit, cont))

    async def create_pod(self, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
        return await self._call("create", "pods", "POST", _in(namespace, "pods"), body=pod)

    async def delete_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The pod as marked for deletion (or a Status when it went at once), None when it was gone already."""
        return await unless_missing(self._call("delete", "pods", "DELETE", _in(namespace, "pods", name)))

    async def pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        params = {"container": container} if container else None
        payload = await self._read("get", "pods/log", "GET", _in(namespace, "pods", name) + "/log", params=params)
        return payload.decode(errors="replace")

    async def follow_pod_log(self, namespace: str, name: str) -> AsyncIterator[str]:
        """The pod's log as it is written, until its container ends or the connection does: no read timeout, and
        no slot of max_inflight held (a follow lasts as long as the task)."""
        response = await self._send(
            "get", "pods/log", "GET", _in(namespace, "pods", name) + "/log", params={"follow": "true"},
            timeout=(self.timeout_seconds, None),
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            async for chunk in response.content.iter_any():
                yield decoder.decode(chunk)
            yield decoder.decode(b"", final=True)
        finally:
            response.release()

    async def get_pod_template(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "podtemplates", "GET", _in(namespace, "podtemplates", name)))

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self._call("create", "events", "POST", _in(namespace, "events"), body=event)

    async def ensure_namespace(self, namespace: str) -> bool:
        """True when created, False when it was already there."""
        if await unless_missing(self._call("get", "namespaces", "GET", f"{CORE}/namespaces/{namespace}")) is not None:
            return False
        try:
            await self._call("create", "namespaces", "POST", f"{CORE}/namespaces", body={"metadata": {"name": namespace}})
            return True
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise

    async def served_resources(self, group: str, version: str) -> set[str]:
        """The resources (plural names) served under group/version, from discovery: open to every authenticated
        client (the system:discovery role), so it needs no rule of the operator's."""
        listing = await unless_missing(self._call("get", "discovery", "GET", f"/apis/{group}/{version}"))
        return {resource["name"] for resource in (listing or {}).get("resources", [])}

    # Who is calling (the actions service's callers) -----------------------------------------------------------

    async def review_token(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """The TokenReview's status: `authenticated`, `user` (username, uid, groups, extra), `error`."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token, "audiences": audiences}}
        review = await self._call("create", "tokenreviews", "POST", "/apis/authentication.k8s.io/v1/tokenreviews", body=body)
        return review.get("status") or {}

    async def review_access(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The SubjectAccessReview's status: `allowed`, `denied`, `reason`."""
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        path = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
        review = await self._call("create", "subjectaccessreviews", "POST", path, body=body)
        return review.get("status") or {}

    # Leases --------------------------------------------------------------------------------------------------

    # The Lease has a budget of its own (`timeout`, below the renew deadline), so that a slow request cannot make a
    # leader miss its deadline while it still acts.

    async def get_lease(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "leases", "GET", _in(namespace, "leases", name, LEASES), timeout=timeout))

    async def create_lease(self, namespace: str, lease: dict[str, Any], timeout: float) -> dict[str, Any]:
        return await self._call("create", "leases", "POST", _in(namespace, "leases", base=LEASES), body=lease, timeout=timeout)

    async def replace_lease(self, namespace: str, name: str, lease: dict[str, Any], timeout: float) -> dict[str, Any]:
        return await self._call("update", "leases", "PUT", _in(namespace, "leases", name, LEASES), body=lease, timeout=timeout)

    async def close(self) -> None:
        await self.transport.close()
