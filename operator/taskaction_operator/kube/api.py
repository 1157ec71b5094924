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
from kubernetes_asyncio import client

from .. import metrics, tracing
from ..api import constants as c
from .errors import ApiError, api_error, unless_missing
from .throttle import TokenBucket

logger = logging.getLogger(__name__)
MERGE_PATCH = "application/merge-patch+json"
MAX_THROTTLE_RETRIES = 5
DEFAULT_TIMEOUT_SECONDS = 30.0
LIST_PAGE_SIZE = 500


class KubeApi:
    def __init__(self, api_client: client.ApiClient, qps: float, burst: int, max_inflight: int, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS):
        self.api_client = api_client
        self.timeout_seconds = timeout_seconds
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self.authentication = client.AuthenticationV1Api(api_client)
        self.authorization = client.AuthorizationV1Api(api_client)
        self.bucket = TokenBucket(qps, burst)
        self.inflight = asyncio.Semaphore(max_inflight)

    async def _send(self, verb: str, resource: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """The response of one request (not read yet), after the rate limit and any 429 retries; a non-2xx answer
        raises ApiError. Every request is bounded in time (`_request_timeout`, the client's by default): a
        half-open connection raises a timeout instead of hanging its caller."""
        kwargs.setdefault("_request_timeout", self.timeout_seconds)
        for attempt in range(MAX_THROTTLE_RETRIES + 1):
            await self.bucket.take()
            started = time.monotonic()
            response = await fn(*args, _preload_content=False, **kwargs)
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

    async def _read(self, verb: str, resource: str, fn: Any, *args: Any, **kwargs: Any) -> bytes:
        async with self.inflight:
            with tracing.span(f"kube {verb} {resource}", **{"k8s.verb": verb, "k8s.resource": resource}):
                response = await self._send(verb, resource, fn, *args, **kwargs)
                try:
                    return await response.read()
                finally:
                    response.release()

    async def _call(self, verb: str, resource: str, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        payload = await self._read(verb, resource, fn, *args, **kwargs)
        return orjson.loads(payload) if payload else {}

    async def _taskaction(self, verb: str, fn: Any, namespace: str, *args: Any, subresource: str = "", **kwargs: Any) -> dict[str, Any]:
        resource = f"{c.PLURAL}/{subresource}" if subresource else c.PLURAL
        return await self._call(verb, resource, fn, c.GROUP, c.VERSION, namespace, c.PLURAL, *args, **kwargs)

    # TaskActions ---------------------------------------------------------------------------------------------

    async def get_taskaction(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._taskaction("get", self.custom.get_namespaced_custom_object, namespace, name))

    async def create_taskaction(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._taskaction("create", self.custom.create_namespaced_custom_object, namespace, body)

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

    async def delete_taskaction(self, namespace: str, name: str) -> bool:
        """True when deleted, False when it was already gone."""
        status = await unless_missing(self._taskaction("delete", self.custom.delete_namespaced_custom_object, namespace, name))
        return status is not None

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
        if namespace is None:
            fn, args = self.custom.list_cluster_custom_object, (c.GROUP, c.VERSION, c.PLURAL)
        else:
            fn, args = self.custom.list_namespaced_custom_object, (c.GROUP, c.VERSION, namespace, c.PLURAL)
        async for event in self._watch(c.PLURAL, fn, *args, label_selector=label_selector, resource_version=resource_version, timeout_seconds=timeout_seconds):
            yield event

    async def watch_pods(
        self, namespace: str | None, label_selector: str, resource_version: str, timeout_seconds: int = 60
    ) -> AsyncIterator[dict[str, Any]]:
        """As watch_taskactions, of pods."""
        fn, args = (self.core.list_pod_for_all_namespaces, ()) if namespace is None else (self.core.list_namespaced_pod, (namespace,))
        async for event in self._watch("pods", fn, *args, label_selector=label_selector, resource_version=resource_version, timeout_seconds=timeout_seconds):
            yield event

    async def _watch(self, resource: str, fn: Any, *args: Any, timeout_seconds: int, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        """One event per line of the response. A watch holds no in-flight slot: it lasts, and the slots bound the
        short requests."""
        response = await self._send(
            "watch",
            resource,
            fn,
            *args,
            watch=True,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _request_timeout=timeout_seconds + 30,
            **kwargs,
        )
        try:
            async for line in response.content:
                if line.strip():
                    yield orjson.loads(line)
        finally:
            response.release()

    # Pods, PodTemplates, Events, namespaces ------------------------------------------------------------------

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "pods", self.core.read_namespaced_pod, name, namespace))

    async def list_pods(self, namespace: str | None, label_selector: str, limit: int, cont: str | None) -> dict[str, Any]:
        """One page, straight from the API server."""
        kwargs: dict[str, Any] = {"label_selector": label_selector, "limit": limit}
        if cont:
            kwargs["_continue"] = cont
        if namespace is None:
            return await self._call("list", "pods", self.core.list_pod_for_all_namespaces, **kwargs)
        return await self._call("list", "pods", self.core.list_namespaced_pod, namespace, **kwargs)

    async def create_pod(self, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
        return await self._call("create", "pods", self.core.create_namespaced_pod, namespace, pod)

    async def delete_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The pod as marked for deletion (or a Status when it went at once), None when it was gone already."""
        return await unless_missing(self._call("delete", "pods", self.core.delete_namespaced_pod, name, namespace))

    async def pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        kwargs: dict[str, Any] = {"container": container} if container else {}
        payload = await self._read("get", "pods/log", self.core.read_namespaced_pod_log, name, namespace, **kwargs)
        return payload.decode(errors="replace")

    async def follow_pod_log(self, namespace: str, name: str) -> AsyncIterator[str]:
        """The pod's log as it is written, until its container ends or the connection does: no read timeout, and
        no slot of max_inflight held (a follow lasts as long as the task)."""
        response = await self._send(
            "get", "pods/log", self.core.read_namespaced_pod_log, name, namespace, follow=True,
            _request_timeout=(self.timeout_seconds, None),
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            async for chunk in response.content.iter_any():
                yield decoder.decode(chunk)
            yield decoder.decode(b"", final=True)
        finally:
            response.release()

    async def get_pod_template(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await unless_missing(self._call("get", "podtemplates", self.core.read_namespaced_pod_template, name, namespace))

    async def create_event(self, namespace: str, event: dict[str, Any]) -> None:
        await self._call("create", "events", self.core.create_namespaced_event, namespace, event)

    async def ensure_namespace(self, namespace: str) -> bool:
        """True when created, False when it was already there."""
        if await unless_missing(self._call("get", "namespaces", self.core.read_namespace, namespace)) is not None:
            return False
        try:
            await self._call("create", "namespaces", self.core.create_namespace, {"metadata": {"name": namespace}})
            return True
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise

    async def served_resources(self, group: str, version: str) -> set[str]:
        """The resources (plural names) served under group/version, from discovery: open to every authenticated
        client (the system:discovery role), so it needs no rule of the operator's."""
        listing = await unless_missing(self._call("get", "discovery", self.custom.get_api_resources, group, version))
        return {resource["name"] for resource in (listing or {}).get("resources", [])}

    # Who is calling (the actions service's callers) -----------------------------------------------------------

    async def review_token(self, token: str, audiences: list[str]) -> dict[str, Any]:
        """The TokenReview's status: `authenticated`, `user` (username, uid, groups, extra), `error`."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token, "audiences": audiences}}
        review = await self._call("create", "tokenreviews", self.authentication.create_token_review, body)
        return review.get("status") or {}

    async def review_access(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The SubjectAccessReview's status: `allowed`, `denied`, `reason`."""
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
        review = await self._call("create", "subjectaccessreviews", self.authorization.create_subject_access_review, body)
        return review.get("status") or {}

    # Leases --------------------------------------------------------------------------------------------------

    # The Lease has a budget of its own (`timeout`, below the renew deadline), so that a slow request cannot make a
    # leader miss its deadline while it still acts.

    async def get_lease(self, namespace: str, name: str, timeout: float) -> dict[str, Any] | None:
        call = self._call("get", "leases", self.coordination.read_namespaced_lease, name, namespace, _request_timeout=timeout)
        return await unless_missing(call)

    async def create_lease(self, namespace: str, lease: dict[str, Any], timeout: float) -> dict[str, Any]:
        return await self._call("create", "leases", self.coordination.create_namespaced_lease, namespace, lease, _request_timeout=timeout)

    async def replace_lease(self, namespace: str, name: str, lease: dict[str, Any], timeout: float) -> dict[str, Any]:
        return await self._call(
            "update", "leases", self.coordination.replace_namespaced_lease, name, namespace, lease, _request_timeout=timeout
        )

    async def close(self) -> None:
        await self.api_client.close()
