"""Ghosts: objects the stores still hold that the API server no longer has.

A watch that expires (410 Gone) is followed by a new listing, and an object deleted in the gap gets no DELETED
event, so the stores would keep it for ever: an action showing Executing on a pod that is gone, a child waiting
for a parent that was deleted. After every such relist (and, as a safety net, every `ghost_sweep_seconds`), the
stores are compared with a fresh listing; what the listing lacks, and is not newer than it, is forgotten and its
action reconciled again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from ..api import constants as c
from ..kube import TRANSPORT_ERRORS, ApiError, KubeApi
from .store import Key, ObjectStore, key_of
from .watches import PAGE_SIZE

logger = logging.getLogger(__name__)
SETTLE_SECONDS = 5.0  # after a relist is noticed, before listing: the new watch is established by then


def ghosts(store: ObjectStore, namespaces: Iterable[str | None], listed: set[Key], listed_at: int) -> list[dict[str, Any]]:
    """The stored objects in `namespaces` (None: all) that a listing taken at resourceVersion `listed_at` lacks and
    that are not newer than it (only those are decoded: the store holds thousands)."""
    scopes = set(namespaces)
    found = [
        store.get(key)
        for key, version in store.versions()
        if (None in scopes or key[0] in scopes) and key not in listed and version <= listed_at
    ]
    return [obj for obj in found if obj is not None]


async def _listing(
    page: Callable[[str | None, str, int, str | None], Awaitable[dict[str, Any]]], namespace: str | None, selector: str
) -> tuple[set[Key], int]:
    keys: set[Key] = set()
    cont: str | None = None
    while True:
        listing = await page(namespace, selector, PAGE_SIZE, cont)
        keys.update(key_of(item) for item in listing.get("items") or [])
        cont = (listing.get("metadata") or {}).get("continue")
        if not cont:
            return keys, int((listing.get("metadata") or {}).get("resourceVersion") or 0)


async def sweep(api: KubeApi, namespaces: list[str], taskactions: ObjectStore, pods: ObjectStore) -> list[Key]:
    """Forget the ghosts of both stores; the keys of the TaskActions to reconcile again."""
    scopes: list[str | None] = list(namespaces) or [None]
    requeue: list[Key] = []
    for namespace in scopes:
        listed, at = await _listing(api.list_taskactions, namespace, "")
        for ghost in ghosts(taskactions, [namespace], listed, at):
            taskactions.remove(ghost)
            requeue.append(key_of(ghost))
        listed, at = await _listing(api.list_pods, namespace, c.MANAGED_SELECTOR)
        for ghost in ghosts(pods, [namespace], listed, at):
            pods.remove(ghost)
            for ref in ghost["metadata"].get("ownerReferences") or []:
                if ref.get("controller") and ref.get("kind") == c.KIND:
                    requeue.append((ghost["metadata"]["namespace"], ref["name"]))
    if requeue:
        logger.info("forgot %d objects deleted while the watch was away", len(requeue))
    return requeue


class GhostSweeper:
    """Sweeps when told a relist happened (`relisted`), and every `interval` seconds regardless."""

    def __init__(self, sweep_once: Callable[[], Awaitable[None]], interval: float):
        self._sweep_once = sweep_once
        self._interval = interval
        self._relisted = asyncio.Event()

    def relisted(self) -> None:
        self._relisted.set()

    async def run_forever(self, swept: Callable[[], None]) -> None:
        while True:
            try:
                await asyncio.wait_for(self._relisted.wait(), self._interval)
                await asyncio.sleep(SETTLE_SECONDS)
            except asyncio.TimeoutError:
                pass
            self._relisted.clear()
            try:
                await self._sweep_once()
                swept()
            except (ApiError, *TRANSPORT_ERRORS) as exc:  # the API server away: the next sweep will do
                logger.warning("ghost sweep failed: %s", exc or type(exc).__name__)
