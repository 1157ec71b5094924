"""The client's Kubernetes access: the operator's KubeApi (JSON dicts, one pool, rate limit, 429 Retry-After) plus
what a control plane needs beyond the operator: create TaskActions and namespaces, list with a resourceVersion,
watch, and read pod logs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from kubernetes_asyncio import client, config

from ..api import constants as c
from ..controller.kubeapi import ApiError, KubeApi, unless_missing, without_env_lookups

__all__ = ["ApiError", "ClientApi", "connect"]

DEFAULT_QPS = 50.0
DEFAULT_BURST = 100
DEFAULT_INFLIGHT = 16


class ClientApi(KubeApi):
    async def create_taskaction(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._taskaction("create", self.custom.create_namespaced_custom_object, namespace, body)

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

    async def list_all_taskactions(self, namespace: str, label_selector: str) -> tuple[list[dict[str, Any]], str]:
        """Every matching TaskAction (all pages) and the list's resourceVersion (to watch from)."""
        items: list[dict[str, Any]] = []
        cont: str | None = None
        while True:
            page = await self.list_taskactions(namespace, label_selector, 500, cont)
            items += page.get("items") or []
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items, (page.get("metadata") or {}).get("resourceVersion", "")

    async def watch_taskactions(
        self, namespace: str, label_selector: str, resource_version: str, timeout_seconds: int = 60
    ) -> AsyncIterator[dict[str, Any]]:
        """Raw watch events `{"type", "object"}` (JSON dicts) until the server ends the watch. A 410 Gone arrives
        as an ERROR event whose object is a Status: the caller lists again."""
        await self.bucket.take()
        response = await self.custom.list_namespaced_custom_object(
            c.GROUP,
            c.VERSION,
            namespace,
            c.PLURAL,
            label_selector=label_selector,
            watch=True,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            _preload_content=False,
            _request_timeout=timeout_seconds + 30,
        )
        try:
            if not 200 <= response.status <= 299:
                payload = await response.read()
                data = json.loads(payload) if payload else {}
                raise ApiError(response.status, data.get("reason", ""), data.get("message", ""))
            async for line in response.content:
                line = line.strip()
                if line:
                    yield json.loads(line)
        finally:
            response.release()

    async def pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        kwargs: dict[str, Any] = {"container": container} if container else {}
        await self.bucket.take()
        response = await self.core.read_namespaced_pod_log(name, namespace, _preload_content=False, **kwargs)
        try:
            payload = await response.read()
        finally:
            response.release()
        if not 200 <= response.status <= 299:
            try:
                data = json.loads(payload)
            except ValueError:
                data = {}
            raise ApiError(response.status, data.get("reason", ""), data.get("message", payload.decode(errors="replace")))
        return payload.decode(errors="replace")

    async def close(self) -> None:
        await self.api_client.close()


async def connect(kubeconfig: str | None = None, context: str | None = None) -> ClientApi:
    """A client from the kubeconfig (KUBECONFIG, ~/.kube/config), else the in-cluster service account."""
    configuration = client.Configuration()
    try:
        await config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    except (config.ConfigException, FileNotFoundError, TypeError):
        if kubeconfig:
            raise
        config.load_incluster_config(client_configuration=configuration)
    configuration.connection_pool_maxsize = DEFAULT_INFLIGHT
    return ClientApi(without_env_lookups(client.ApiClient(configuration)), DEFAULT_QPS, DEFAULT_BURST, DEFAULT_INFLIGHT)
