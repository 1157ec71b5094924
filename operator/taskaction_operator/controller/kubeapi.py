"""The operator's one Kubernetes client: async, one connection pool, bounded concurrency, a client-side rate limit
that honours 429 Retry-After. Objects come and go as plain JSON dicts (no model deserialization on the hot path)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio import client

from .. import metrics
from ..api import constants as c

logger = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
MAX_THROTTLE_RETRIES = 5


T = TypeVar("T")


def without_env_lookups(api_client: client.ApiClient) -> client.ApiClient:
    """kubernetes_asyncio's session trusts the environment, so aiohttp reads ~/.netrc in a thread on every request
    (a tenth of the operator's CPU under load). The operator talks to the API server only: keep the connection pool,
    drop the lookups."""
    rest = api_client.rest_client
    trusting = rest.pool_manager
    rest.pool_manager = aiohttp.ClientSession(connector=trusting.connector, trust_env=False, read_bufsize=2**21)
    trusting.detach()
    return api_client


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


async def unless_missing(call: Awaitable[T]) -> T | None:
    """The call's result, or None when the object is not there (404)."""
    try:
        return await call
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def _error_body(payload: bytes) -> dict[str, Any]:
    """A Status object, or {} when the server answered in plain text (e.g. "404 page not found" for an unknown
    resource: the CRD is not installed)."""
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class TokenBucket:
    """qps tokens a second, up to burst stored; `take` waits for one."""

    def __init__(self, qps: float, burst: int):
        self.qps = qps
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.qps)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.qps)


class KubeApi:
    def __init__(self, api_client: client.ApiClient, qps: float, burst: int, max_inflight: int):
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.bucket = TokenBucket(qps, burst)
        self.inflight = asyncio.Semaphore(max_inflight)

    async def _call(self, verb: str, resource: str, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        for attempt in range(MAX_THROTTLE_RETRIES + 1):
            await self.bucket.take()
            started = time.monotonic()
            async with self.inflight:
                response = await fn(*args, _preload_content=False, **kwargs)
                try:
                    payload = await response.read()
                finally:
                    response.release()
            metrics.API_SECONDS.labels(verb, resource).observe(time.monotonic() - started)
            metrics.API_REQUESTS.labels(verb, resource, str(response.status)).inc()
            if response.status == 429 and attempt < MAX_THROTTLE_RETRIES:
                delay = float(response.headers.get("Retry-After") or 1)
                logger.warning("API server throttled %s %s; retrying after %.1fs", verb, resource, delay)
                await asyncio.sleep(delay)
                continue
            if not 200 <= response.status <= 299:
                data = _error_body(payload)
                raise ApiError(response.status, data.get("reason", ""), data.get("message", payload.decode(errors="replace")))
            return json.loads(payload) if payload else {}
        raise AssertionError("unreachable")

    async def _taskaction(self, verb: str, fn: Any, namespace: str, *args: Any, subresource: str = "", **kwargs: Any) -> dict[str, Any]:
        resource = f"{c.PLURAL}/{subresource}" if subresource else c.PLURAL
        return await self._call(verb, resource, fn, c.GROUP, c.VERSION, namespace, c.PLURAL, *args, **kwargs)

    async def get_taskaction(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._taskaction("get", self.custom.get_namespaced_custom_object, namespace, name))

    async def patch_taskaction(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self._taskaction(
            "patch", self.custom.patch_namespaced_custom_object, namespace, name, patch, _content_type=MERGE_PATCH
        )

    async def patch_taskaction_status(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return await self._taskaction(
            "patch",
            self.custom.patch_namespaced_custom_object_status,
            namespace,
            name,
            patch,
            subresource="status",
            _content_type=MERGE_PATCH,
        )

    async def list_taskactions(self, namespace: str | None, label_selector: str, limit: int, cont: str | None) -> dict[str, Any]:
        """One page, straight from the API server (not the watch cache: it refuses `continue`)."""
        kwargs: dict[str, Any] = {"label_selector": label_selector, "limit": limit}
        if cont:
            kwargs["_continue"] = cont
        if namespace is None:
            return await self._call(
                "list", c.PLURAL, self.custom.list_cluster_custom_object, c.GROUP, c.VERSION, c.PLURAL, **kwargs
            )
        return await self._taskaction("list", self.custom.list_namespaced_custom_object, namespace, **kwargs)

    async def delete_taskaction(self, namespace: str, name: str) -> bool:
        """True when deleted, False when it was already gone."""
        status = await unless_missing(self._taskaction("delete", self.custom.delete_namespaced_custom_object, namespace, name))
        return status is not None

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "pods", self.core.read_namespaced_pod, name, namespace))

    async def get_pod_template(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "podtemplates", self.core.read_namespaced_pod_template, name, namespace))

    async def create_pod(self, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
        return await self._call("create", "pods", self.core.create_namespaced_pod, namespace, pod)

    async def delete_pod(self, namespace: str, name: str) -> None:
        await unless_missing(self._call("delete", "pods", self.core.delete_namespaced_pod, name, namespace))

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self._call("create", "events", self.core.create_namespaced_event, namespace, event)

    async def served_resources(self, group: str, version: str) -> set[str]:
        """The resources (plural names) served under group/version, from discovery: open to every authenticated
        client (the system:discovery role), so it needs no rule of the operator's."""
        listing = await unless_missing(self._call("get", "discovery", self.custom.get_api_resources, group, version))
        return {resource["name"] for resource in (listing or {}).get("resources", [])}

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "leases", self.coordination.read_namespaced_lease, name, namespace))

    async def create_lease(self, namespace: str, lease: dict[str, Any]) -> dict[str, Any]:
        return await self._call("create", "leases", self.coordination.create_namespaced_lease, namespace, lease)

    async def replace_lease(self, namespace: str, name: str, lease: dict[str, Any]) -> dict[str, Any]:
        return await self._call("update", "leases", self.coordination.replace_namespaced_lease, name, namespace, lease)
