"""Kubernetes Events on TaskActions, posted in the background so that a reconcile never waits for them."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .. import redact
from ..api.times import rfc3339_micro, utcnow
from ..kube import TRANSPORT_ERRORS, ApiError, KubeApi
from ..reconcile.plan import Event

logger = logging.getLogger(__name__)
COMPONENT = "taskaction-operator"
QUEUE_LIMIT = 10_000
DEDUPE_MEMORY = 10_000  # objects whose last Event is remembered


class EventRecorder:
    """`record` queues; `post_forever` (run by the supervisor, several at once) posts. `level` is the setting
    kube_events: all, failures (Warnings only) or off."""

    def __init__(self, api: KubeApi, level: str = "all"):
        self.api = api
        self.level = level
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._last: OrderedDict[str, tuple[str, str, str]] = OrderedDict()  # uid -> the last Event recorded for it

    def wanted(self, obj: dict[str, Any], event: Event) -> bool:
        """Not below the level, and not the same as the last one recorded for this object."""
        if self.level == "off" or (self.level == "failures" and event.type != "Warning"):
            return False
        uid = obj["metadata"].get("uid") or obj["metadata"]["name"]
        seen = (event.type, event.reason, event.message)
        if self._last.get(uid) == seen:
            return False
        self._last[uid] = seen
        self._last.move_to_end(uid)
        if len(self._last) > DEDUPE_MEMORY:
            self._last.popitem(last=False)
        return True

    def record(self, obj: dict[str, Any], event: Event) -> None:
        if not self.wanted(obj, event):
            return
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
            "message": redact.text(event.message)[:1024],
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

    async def post_forever(self, posted: Callable[[], None]) -> None:
        """`posted` is told after every Event the API server took (the supervisor's beat)."""
        while True:
            body = await self._queue.get()
            try:
                await self.api.create_event(body["metadata"]["namespace"], body)
                posted()
            except (ApiError, *TRANSPORT_ERRORS) as exc:
                logger.warning("event %s for %s not posted: %s", body["reason"], body["involvedObject"]["name"], exc or type(exc).__name__)
