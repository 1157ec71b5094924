"""One watch of the namespace's TaskActions, fanned out to every `WatchForUpdates` stream.

However many parent tasks watch, the API server serves a single list+watch. The hub keeps the last `ActionUpdate`
of every TaskAction (a few hundred bytes each, never the template) and each subscriber gets its own unbounded
queue: unlike the Go client, which drops updates for a subscriber whose buffer is full, nothing is dropped, so a
slow parent never misses its child's terminal phase. Updates equal to the last one sent are not sent again.

A subscription is keyed by (project, domain, run, parent action): its snapshot is the parent itself plus its
direct children (ListChildActions), then it receives the children's changes (notifySubscribers).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from flyteidl2.common import identifier_pb2
from flyteidl2.workflow import state_service_pb2

from ..kube import ApiError, KubeApi
from ..pods.naming import taskaction_name
from . import updates

log = logging.getLogger(__name__)

Key = tuple[str, str, str, str]  # project, domain, run, parent action
Update = state_service_pb2.ActionUpdate

WATCH_TIMEOUT_SECONDS = 300
RETRY_SECONDS = 2.0
MAX_TRACES = 10_000


def key_of(run: identifier_pb2.RunIdentifier, parent_action: str) -> Key:
    return (run.project, run.domain, run.name, parent_action)


@dataclass
class Entry:
    """What the hub remembers of one TaskAction."""

    key: Key | None  # None for a root: nobody watches a root as a child
    update: Update
    context: dict[str, Any]  # what a child inherits and its ownerReference needs (parent_context)


def parent_context(taskaction: dict[str, Any]) -> dict[str, Any]:
    """The part of a TaskAction that Enqueue reads from a parent: identity, labels, annotations, run context."""
    meta, spec = taskaction.get("metadata") or {}, taskaction.get("spec") or {}
    kept_meta = ("name", "namespace", "uid", "labels", "annotations")
    kept_spec = ("runName", "project", "domain", "actionName", "envVars", "interruptible")
    return {
        "metadata": {k: meta[k] for k in kept_meta if k in meta},
        "spec": {k: spec[k] for k in kept_spec if k in spec},
    }


@dataclass(eq=False)
class Subscription:
    key: Key
    queue: asyncio.Queue[Update] = field(default_factory=asyncio.Queue)


class UpdateHub:
    def __init__(self, api: KubeApi, namespace: str, *, watch_timeout_seconds: int = WATCH_TIMEOUT_SECONDS):
        self.api = api
        self.namespace = namespace
        self.watch_timeout_seconds = watch_timeout_seconds
        self.ready = asyncio.Event()
        self._entries: dict[str, Entry] = {}  # TaskAction name -> entry
        self._children: dict[Key, set[str]] = collections.defaultdict(set)
        self._subscriptions: dict[Key, set[Subscription]] = collections.defaultdict(set)
        # Traces have no TaskAction: remembered (bounded) so that a parent re-watching still sees them.
        self._traces: collections.OrderedDict[tuple[Key, str], Update] = collections.OrderedDict()

    # --- the one watch ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """List, then watch from the list's resourceVersion; on 410 Gone or any failure, list again (the difference
        is sent as updates, a TaskAction missing from the new list as deleted)."""
        while True:
            try:
                version = await self._relist()
                self.ready.set()
                await self._watch(version)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                if exc.status == 410:  # the resourceVersion expired: normal after a long quiet spell
                    log.info("TaskAction watch of namespace %s expired; listing again", self.namespace)
                    continue
                log.warning("TaskAction watch of namespace %s failed (%s); listing again in %.0fs", self.namespace, exc, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)
            except Exception:  # noqa: BLE001 - the API server may be away; the watch must come back
                log.exception("TaskAction watch of namespace %s failed; listing again in %.0fs", self.namespace, RETRY_SECONDS)
                await asyncio.sleep(RETRY_SECONDS)

    async def _relist(self) -> str:
        items, version = await self.api.list_all_taskactions(self.namespace, "")
        self.observe_listing(items)
        return version

    def observe_listing(self, items: list[dict[str, Any]]) -> None:
        """A full list: every TaskAction observed, the ones no longer listed forgotten."""
        listed = {obj["metadata"]["name"] for obj in items}
        for obj in items:
            self.observe(obj)
        for name in [n for n in self._entries if n not in listed]:
            self.forget(name)

    async def _watch(self, version: str) -> None:
        while True:
            async for event in self.api.watch_taskactions(self.namespace, "", version, self.watch_timeout_seconds):
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    raise ApiError(int(obj.get("code") or 0), obj.get("reason", ""), obj.get("message", "watch error"))
                version = (obj.get("metadata") or {}).get("resourceVersion", version)
                if kind == "DELETED":
                    self.observe(obj, deleted=True)
                elif kind in ("ADDED", "MODIFIED"):
                    self.observe(obj)

    # --- state --------------------------------------------------------------------------------------------------

    def observe(self, taskaction: dict[str, Any], *, deleted: bool = False) -> None:
        """Record a TaskAction's state and tell the subscribers of its parent when it changed. One TaskAction that
        cannot be read never stops the shared watch (every parent would hang): it is left out, and logged."""
        try:
            self._observe(taskaction, deleted)
        except Exception:  # noqa: BLE001 - whatever one object holds, the others go on
            meta = taskaction.get("metadata") or {}
            log.exception("TaskAction %s/%s left out of the actions service's updates", meta.get("namespace"), meta.get("name"))

    def _observe(self, taskaction: dict[str, Any], deleted: bool) -> None:
        name = taskaction["metadata"]["name"]
        spec = taskaction.get("spec") or {}
        update = updates.action_update(taskaction, deleted=deleted)
        parent = spec.get("parentActionName")
        key = key_of(update.action_id.run, parent) if parent else None
        if deleted:
            previous = self._drop(name)
        else:
            previous = self._entries.get(name)
            self._entries[name] = Entry(key, update, parent_context(taskaction))
            if key is not None:
                self._children[key].add(name)
        if key is not None and (previous is None or previous.update != update):
            self._publish(key, update)

    def forget(self, name: str) -> None:
        """A TaskAction that vanished while the watch was down: deleted, as far as its parent can tell."""
        entry = self._drop(name)
        if entry is not None and entry.key is not None:
            self._publish(entry.key, updates.as_deleted(entry.update))

    def _drop(self, name: str) -> Entry | None:
        entry = self._entries.pop(name, None)
        if entry is not None and entry.key is not None:
            self._children[entry.key].discard(name)
            if not self._children[entry.key]:
                del self._children[entry.key]
        return entry

    def record_trace(self, parent_key: Key, update: Update) -> None:
        self._traces[(parent_key, update.action_id.name)] = update
        self._traces.move_to_end((parent_key, update.action_id.name))
        while len(self._traces) > MAX_TRACES:
            self._traces.popitem(last=False)
        self._publish(parent_key, update)

    def _publish(self, key: Key, update: Update) -> None:
        for subscription in self._subscriptions.get(key, ()):
            subscription.queue.put_nowait(update)

    def parent(self, name: str) -> dict[str, Any] | None:
        """A TaskAction as the watch last saw it, reduced to what a child needs from its parent; None if unknown."""
        entry = self._entries.get(name)
        return None if entry is None else entry.context

    def snapshot(self, key: Key) -> list[Update]:
        """The parent itself, then its children and traces (ListChildActions)."""
        project, domain, run, parent = key
        found = []
        itself = self._entries.get(taskaction_name(run, parent))
        if itself is not None and (itself.update.action_id.run.project, itself.update.action_id.run.domain) == (project, domain):
            found.append(itself.update)
        found += [self._entries[name].update for name in sorted(self._children.get(key, ()))]
        found += [update for (k, _), update in self._traces.items() if k == key]
        return found

    # --- subscribers --------------------------------------------------------------------------------------------

    async def subscribe(self, key: Key) -> AsyncIterator[Update | None]:
        """The snapshot, then None (the sentinel's place), then every change, until the caller stops iterating.
        Subscribing before taking the snapshot means no change falls between the two."""
        subscription = Subscription(key)
        self._subscriptions[key].add(subscription)
        try:
            for update in self.snapshot(key):
                yield update
            yield None
            while True:
                yield await subscription.queue.get()
        finally:
            self._subscriptions[key].discard(subscription)
            if not self._subscriptions[key]:
                del self._subscriptions[key]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscriptions.values())

