"""The controller's watches of TaskActions and managed pods: list, then watch from the list's resourceVersion, every
event handed to the Controller as it comes.

Not kopf's watching: kopf runs a per-object worker task and a handler invocation for every event, a third of the
operator's CPU at 20 actions a second (docs/benchmarks.md), and the Controller has a work queue of its own.

A watch the server ends is resumed where it stopped; one whose resourceVersion expired (410 Gone) is listed again,
and as objects deleted in the gap get no DELETED event, `relisted` is told (the ghost sweep forgets them). Any other
failure (the API server restarting, a timeout) is retried with a capped backoff from the last version seen.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .. import metrics
from ..kube import TRANSPORT_ERRORS, ApiError

logger = logging.getLogger(__name__)
SERVER_TIMEOUT_SECONDS = 300  # the API server ends each watch after this long; it is resumed at once
# Objects a listing asks for at a time (the watches' and the ghost sweep's): a page is decoded whole, each object with
# its managedFields, and the allocator keeps the high-water mark: a page of 500 pods is 38 MiB of Python objects (a
# step in the RSS at every sweep during a 10,000-action burst), of 100 pods 8 MiB.
PAGE_SIZE = 100
BACKOFF_SECONDS = (0.5, 1, 2, 5, 10)

Lister = Callable[[str | None, str, int, str | None], Awaitable[dict[str, Any]]]
Watcher = Callable[[str | None, str, str, int], AsyncIterator[dict[str, Any]]]
OnEvent = Callable[[str | None, dict[str, Any]], None]


@dataclass
class Watch:
    """One resource in one namespace (None: all of them). `on_event(type, object)`: type None for a listed object,
    as kopf's on.event had it. Listed objects carry no kind of their own: it is set, as on watched ones."""

    kind: str
    api_version: str
    namespace: str | None
    selector: str
    list_page: Lister
    watch: Watcher
    on_event: OnEvent
    relisted: Callable[[], None]
    listed: bool = False  # listed once at least: the store holds what the API server had

    async def run_forever(self, beat: Callable[[], None]) -> None:
        version: str | None = None
        failures = 0
        while True:
            try:
                if version is None:
                    version = await self._list()
                    if self.listed:
                        self.relisted()
                    self.listed = True
                    beat()
                async for version in self._follow(version):
                    failures = 0
            except asyncio.CancelledError:
                raise
            except (ApiError, *TRANSPORT_ERRORS) as exc:
                if isinstance(exc, ApiError) and exc.status == 410:
                    logger.info("the %s watch of %s expired; listing again", self.kind, self.where)
                    metrics.WATCH_RESTARTS.labels("expired").inc()
                    version = None
                    continue
                delay = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
                failures += 1
                logger.warning("the %s watch of %s failed (%s); again in %.1fs", self.kind, self.where, exc or type(exc).__name__, delay)
                metrics.WATCH_RESTARTS.labels("failed").inc()
                await asyncio.sleep(delay)

    @property
    def where(self) -> str:
        return self.namespace or "every namespace"

    async def _list(self) -> str:
        cont: str | None = None
        while True:
            page = await self.list_page(self.namespace, self.selector, PAGE_SIZE, cont)
            for obj in page.get("items") or []:
                obj.setdefault("kind", self.kind)
                obj.setdefault("apiVersion", self.api_version)
                self._deliver(None, obj)
            meta = page.get("metadata") or {}
            cont = meta.get("continue")
            if not cont:
                return meta.get("resourceVersion", "")

    async def _follow(self, version: str) -> AsyncIterator[str]:
        """The resourceVersion after each event, until the server ends the watch."""
        async for event in self.watch(self.namespace, self.selector, version, SERVER_TIMEOUT_SECONDS):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":  # 410 Gone: the resourceVersion is too old, only a new listing can go on
                raise ApiError(int(obj.get("code") or 0), obj.get("reason", ""), obj.get("message", "watch error"))
            version = (obj.get("metadata") or {}).get("resourceVersion") or version
            if kind != "BOOKMARK":
                self._deliver(kind, obj)
            yield version

    def _deliver(self, kind: str | None, obj: dict[str, Any]) -> None:
        """Whatever one object holds, the watch goes on for the others."""
        try:
            self.on_event(kind, obj)
        except Exception:  # noqa: BLE001
            meta = obj.get("metadata") or {}
            logger.exception("%s event of %s %s/%s not handled", kind or "LISTED", self.kind, meta.get("namespace"), meta.get("name"))
