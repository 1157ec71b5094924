"""Kubernetes Events on TaskActions, posted in the background so that a reconcile never waits for them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..api.times import rfc3339_micro, utcnow
from ..kube import ApiError, KubeApi
from ..reconcile.plan import Event

logger = logging.getLogger(__name__)
COMPONENT = "taskaction-operator"
QUEUE_LIMIT = 10_000


class EventRecorder:
    def __init__(self, api: KubeApi, workers: int = 2):
        self.api = api
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._tasks = [asyncio.create_task(self._post(), name=f"event-poster-{i}") for i in range(workers)]

    def record(self, obj: dict[str, Any], event: Event) -> None:
        meta = obj["metadata"]
        now = rfc3339_micro(utcnow())
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion"),
                "kind": obj.get("kind"),
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "type": event.type,
            "reason": event.reason,
            "message": event.message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            logger.warning("event queue full: dropped %s %s for %s", event.type, event.reason, meta["name"])

    async def _post(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self.api.create_event(body["metadata"]["namespace"], body)
            except ApiError as exc:
                logger.warning("event %s for %s not posted: %s", body["reason"], body["involvedObject"]["name"], exc)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
