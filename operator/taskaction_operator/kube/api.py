"""The Kubernetes API client of the whole package: async, one connection pool, bounded concurrency, a client-side
rate limit that honours 429 Retry-After, metrics for every request. Objects come and go as plain JSON dicts, encoded
and decoded by orjson and sent on kubernetes_asyncio's aiohttp session (its TLS and credentials) without its
generated API classes: their per-request serialization (a recursive walk of the body, the stdlib's json) and
parameter handling were a third of the cost of each request (docs/benchmarks.md)."""

from __future__ import annotations

import asyncio
import codecs
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from kubernetes_asyncio import client

from .. import metrics, tracing
from ..api import constants as c
from .errors import ApiError, api_error, unless_missing
from .throttle import TokenBucket

logger = logging.getLogger(__name__)
JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
MAX_THROTTLE_RETRIES = 5
DEFAULT_TIMEOUT_SECONDS = 30.0
LIST_PAGE_SIZE = 500
TASKACTIONS = f"/apis/{c.GROUP}/{c.VERSION}"
LEASES = "/apis/coordination.k8s.io/v1"

Timeout = float | tuple[float, float | None] | aiohttp.ClientTimeout


def client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    """Seconds for the whole request, or (connect, read) seconds (read None: unbounded, a followed log)."""
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout
    if isinstance(timeout, tuple):
        connect, read = timeout
        return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=read)
    return aiohttp.ClientTimeout(total=timeout)


def under(prefix: str, namespace: str | None, plural: str, name: str = "", subresource: str = "") -> str:
    """The path of a namespaced resource (of all namespaces with namespace None), an object of it, its subresource."""
    path = f"{prefix}/namespaces/{quote(namespace, safe='')}/{plural}" if namespace is not None else f"{prefix}/{plural}"
    if name:
        path += f"/{quote(name, safe='')}"
    return f"{path}/{subresource}" if subresource else path


def list_query(label_selector: str, limit: int, cont: str | None) -> dict[str, str]:
    query = {"labelSelector": label_selector, "limit": str(limit)}
    if cont:
        query["continue"] = cont
    return query


class KubeApi:
    def __init__(self, api_client: client.ApiClient, qps: float, burst: int, max_inflight: int, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS):
        self.api_client = api_client
        self.timeout_seconds = timeout_seconds
        self._timeout = client_timeout(timeout_seconds)
        self.bucket = TokenBucket(qps, burst)
        self.inflight = asyncio.Semaphore(max_inflight)

    async def _headers(self, content_type: str) -> dict[str, str]:
        """The client's default headers and credentials (a bearer token, refreshed by its hook; client certificates
        are in the session's TLS context)."""
        headers = {**self.api_client.default_headers, "Accept": JSON, "Content-Type": content_type}
        for setting in (await self.api_client.configuration.auth_settings()).values():
            headers[setting["key"]] = setting["value"]
        return headers

    async def _send(
        self,
        verb: str,
        resource: str,
        method: str,
        path: str,
        query: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
        timeout: Timeout | None = None,
    ) -> aiohttp.ClientResponse:
        """The response of one request (not read yet), after the rate limit and any 429 retries; a non-2xx answer
        raises ApiError. Every request is bounded in time (`timeout`, the client's by default): a half-open
        connection raises a timeout instead of hanging its caller."""
        rest = self.api_client.rest_client
        options: dict[str, Any] = {"timeout": self._timeout if timeout is None else client_timeout(timeout)}
        if query:
            options["params"] = query
        if body is not None:
            options["data"] = orjson.dumps(body)
        if rest.proxy:
            options["proxy"], options["proxy_headers"] = rest.proxy, rest.proxy_headers
        if rest.server_hostname:
            options["server_hostname"] = rest.server_hostname
        url = self.api_client.configuration.host + path
        for attempt in range(MAX_THROTTLE_RETRIES + 1):
            await self.bucket.take()
            started = time.monotonic()
            response = await rest.pool_manager.request(method, url, headers=await self._headers(content_type), **options)
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

    async def _read(self, verb: str, resource: str, method: str, path: str, **options: Any) -> bytes:
        async with self.inflight:
            with tracing.span(f"kube {verb} {resource}", **{"k8s.verb": verb, "k8s.resource": resource}):
                response = await self._send(verb, resource, method, path, **options)
                try:
                    return await response.read()
                finally:
                    response.release()

    async def _call(self, verb: str, resource: str, method: str, path: str, **options: Any) -> dict[str, Any]:
        payload = await self._read(verb, resource, method, path, **options)
        return orjson.loads(payload) if payload else {}

    # TaskActions ---------------------------------------------------------------------------------------------

    def _taskaction(self, verb: str, method: str, namespace: str | None, name: str = "", subresource: str = "", **options: Any) -> Any:
        resource = f"{c.PLURAL}/{subresource}" if subresource else c.PLURAL
        return self._call(verb, resource, method, under(TASKACTIONS, namespace, c.PLURAL, name, subresource), **options)

    async def get_taskaction(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._taskaction("get", "GET", namespace, name))

    async def create_taskaction(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._taskaction("create", "POST", namespace, body=body)

    async def patch_taskaction(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self._taskaction("patch", "PATCH", namespace, name, body=patch, content_type=MERGE_PATCH)

    async def patch_taskaction_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self._taskaction("patch", "PATCH", namespace, name, "status", body=patch, content_type=MERGE_PATCH)

    async def delete_taskaction(self, namespace: str, name: str) -> bool:
        """True when deleted, False when it was already gone."""
        status = await unless_missing(self._taskaction("delete", "DELETE", namespace, name))
        return status is not None

    async def list_taskactions(self, namespace: str | None, label_selector: str, limit: int, cont: str | None) -> dict[str, Any]:
        """One page, straight from the API server (not the watch cache: it refuses `continue`); namespace None: of
        all of them."""
        return await self._taskaction("list", "GET", namespace, query=list_query(label_selector, limit, cont))

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
        path = under(TASKACTIONS, namespace, c.PLURAL)
        async for event in self._watch(c.PLURAL, path, label_selector, resource_version, timeout_seconds):
            yield event

    async def watch_pods(
        self, namespace: str | None, label_selector: str, resource_version: str, timeout_seconds: int = 60
    ) -> AsyncIterator[dict[str, Any]]:
        """As watch_taskactions, of pods."""
        async for event in self._watch("pods", under("/api/v1", namespace, "pods"), label_selector, resource_version, timeout_seconds):
            yield event

    async def _watch(self, resource: str, path: str, label_selector: str, resource_version: str, timeout_seconds: int) -> AsyncIterator[dict[str, Any]]:
        """One event per line of the response. A watch holds no in-flight slot: it lasts, and the slots bound the
        short requests."""
        query = {
            "watch": "true",
            "allowWatchBookmarks": "true",
            "labelSelector": label_selector,
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        response = await self._send("watch", resource, "GET", path, query=query, timeout=timeout_seconds + 30)
        try:
            async for line in response.content:
                if line.strip():
                    yield orjson.loads(line)
        finally:
            response.release()

    # Pods, PodTemplates, Events, namespaces ------------------------------------------------------------------

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "pods", "GET", under("/api/v1", namespace, "pods", name)))

    async def list_pods(self, namespace: str | None, label_selector: str, limit: int, cont: str | None) -> dict[str, Any]:
        """One page, straight from the API server."""
        return await self._call("list", "pods", "GET", under("/api/v1", namespace, "pods"), query=list_query(label_selector, limit, cont))

    async def create_pod(self, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
        return await self._call("create", "pods", "POST", under("/api/v1", namespace, "pods"), body=pod)

    async def delete_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The pod as marked for deletion (or a Status when it went at once), None when it was gone already."""
        return await unless_missing(self._call("delete", "pods", "DELETE", under("/api/v1", namespace, "pods", name)))

    async def pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        query = {"container": container} if container else None
        payload = await self._read("get", "pods/log", "GET", under("/api/v1", namespace, "pods", name, "log"), query=query)
        return payload.decode(errors="replace")

    async def follow_pod_log(self, namespace: str, name: str) -> AsyncIterator[str]:
        """The pod's log as it is written, until its container ends or the connection does: no read timeout, and
        no slot of max_inflight held (a follow lasts as long as the task)."""
        response = await self._send(
            "get", "pods/log", "GET", under("/api/v1", namespace, "pods", name, "log"), query={"follow": "true"},
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
        return await unless_missing(self._call("get", "podtemplates", "GET", under("/api/v1", namespace, "podtemplates", name)))

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self._call("create", "events", "POST", under("/api/v1", namespace, "events"), body=event)

    async def ensure_namespace(self, namespace: str) -> bool:
        """True when created, False when it was already there."""
        if await unless_missing(self._call("get", "namespaces", "GET", under("/api/v1", None, "namespaces", namespace))) is not None:
            return False
        try:
            await self._call("create", "namespaces", "POST", "/api/v1/namespaces", body={"metadata": {"name": namespace}})
            return True
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise

    async def served_resources(self, group: str, version: str) -> set[str]:
        """The resources (plural names) served under group/version, from discovery: open to every authenticated
        client (the system:discovery role), so it needs no rule of the operator's."""
        listing = await unless_missing(self._call("get", "discovery", "GET", f"/apis/{quote(group, safe='')}/{quote(version, safe='')}"))
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
        review = await self._call("create", "subjectaccessreviews", "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body=body)
        return review.get("status") or {}

    # Leases --------------------------------------------------------------------------------------------------

    # The Lease has a budget of its own (`timeout`, below the renew deadline), so that a slow request cannot make a
    # leader miss its deadline while it still acts.

    async def get_lease(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "leases", "GET", under(LEASES, namespace, "leases", name), timeout=timeout))

    async def create_lease(self, namespace: str, lease: dict[str, Any], timeout: float) -> dict[str, Any]:
        return await self._call("create", "leases", "POST", under(LEASES, namespace, "leases"), body=lease, timeout=timeout)

    async def replace_lease(self, namespace: str, name: str, lease: dict[str, Any], timeout: float) -> dict[str, Any]:
        return await self._call("update", "leases", "PUT", under(LEASES, namespace, "leases", name), body=lease, timeout=timeout)

    async def close(self) -> None:
        await self.api_client.close()
