"""The shell around the pure decisions: watch events in, keyed work queue, bounded workers, plans carried out.

Level-triggered: every reconcile starts from the latest TaskAction and pod the API server reported. Every write
carries the resourceVersion it was computed from, so a decision made on a stale view is refused (409) and redone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from .. import metrics, tracing
from ..api import constants as c
from ..api.times import utcnow
from ..catalog.client import CacheClient
from ..kube import ApiError, KubeApi
from ..kube.throttle import TokenBucket
from ..logs import current_object
from ..pods.naming import pod_name
from ..reconcile import plugin_state
from ..reconcile import status as st
from ..reconcile.dispatch import Observed, needs_parent, reconcile
from ..reconcile.lookups import NOTHING_LOOKED_UP, CreateRefused
from ..reconcile.ownership import MAX_LINEAGE, parent_name
from ..reconcile.plan import CacheGet, CachePut, CacheRelease, CacheReserve, FindPodTemplate, Lookup, Plan, ReadInputs
from ..reconcile.task import observed_attempts
from ..settings import Settings
from ..storage.inputs import read_inputs
from ..storage.outputs import check_outputs
from . import admission, gc, ghosts
from .echoes import Echoes
from .events import EventRecorder
from .ghosts import GhostSweeper
from .reporter import ActionReporter
from .store import Key, ObjectStore, finished, key_of
from .supervision import Supervisor
from .watches import Watch
from .workqueue import WorkQueue

logger = logging.getLogger(__name__)
ERROR_BACKOFF = (0.5, 1, 2, 5, 10, 30, 60)
EVENT_POSTERS = 2


class Controller:
    def __init__(self, api: KubeApi, settings: Settings):
        self.api = api
        self.settings = settings
        self.taskactions = ObjectStore(summary_of_taskaction)
        self.pods = ObjectStore(admission.occupant)
        self.queue = WorkQueue()
        self._errors: dict[Key, int] = defaultdict(int)
        self._waiting_children: dict[Key, set[Key]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []
        self.supervisor = Supervisor()
        # Our own writes' watch events, which are not news (controller/echoes.py).
        self.taskaction_echoes = Echoes()
        self.pod_echoes = Echoes()
        self.reporter = ActionReporter(settings, self.taskactions, self.pods, self.queue.add)
        self.cache: CacheClient | None = None
        self._admission = asyncio.Lock()  # one start at a time while concurrency limits hold (controller/admission.py)
        # Pod creates beside the API's own rate limit: a burst of actions must not flood the scheduler and kubelets.
        self._pod_creates = TokenBucket(settings.pod_create_qps, settings.pod_create_burst) if settings.pod_create_qps > 0 else None
        self.watches: list[Watch] = []

    # Watch events --------------------------------------------------------------------------------------------

    def on_taskaction_event(self, event_type: str | None, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        if event_type == "DELETED":
            self.taskactions.remove(obj)
            self.queue.forget(key)
            self.taskaction_echoes.forget(key)
            stored = self.taskactions.get(key)  # a newer object of the same name, if any
        elif self.taskaction_echoes.is_echo(key, obj["metadata"].get("resourceVersion")):
            # (Only our writes: an object a GET put in the store first, a parent say, is news when its event comes.)
            stored = self.taskactions.put(obj)
        else:
            stored = self.taskactions.put(obj)
            self.queue.add(key)
        for child in self._waiting_children.pop(key, ()):
            self.queue.add(child)
        if stored is not None and finished(stored):
            self.pods.settle((key[0], pod_name(key[1], observed_attempts(stored.get("status") or {}))))
        self.reporter.observe(key, stored)

    def on_pod_event(self, event_type: str | None, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        meta = obj["metadata"]
        owners = [(meta["namespace"], ref["name"]) for ref in meta.get("ownerReferences") or [] if ref.get("controller") and ref.get("kind") == c.KIND]
        if event_type == "DELETED":
            self.pods.remove(obj)
            self.pod_echoes.forget(key)
        elif self.pod_echoes.is_echo(key, meta.get("resourceVersion")):
            self.pods.put(obj)
            return  # the pod as we created it: its owner decided with it already
        else:
            # The pod of a finished action is kept as little as can be: nothing decides with it any more.
            self.pods.put(obj, settled=any(self._finished(owner) for owner in owners))
        for owner in owners:
            self.queue.add(owner)

    def _finished(self, key: Key) -> bool:
        summary = self.taskactions.summary(key)
        return summary is not None and summary[1]  # type: ignore[index]

    # Workers -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        metrics.MAX_CONCURRENT_RECONCILES.labels(metrics.CONTROLLER).set(self.settings.max_concurrent_reconciles)
        self.events = EventRecorder(self.api, self.settings.kube_events)
        if self.settings.cache_service_url:
            self.cache = CacheClient(
                self.settings.cache_service_url,
                self.settings,
                tuple(self.settings.storage_schemes),
                self.settings.cache_timeout_seconds,
                self.settings.cache_max_age_seconds,
            )
        self.reporter.start()
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"reconciler-{i}") for i in range(self.settings.max_concurrent_reconciles)
        ]
        for i in range(EVENT_POSTERS):
            name = f"event-poster-{i}"
            self.supervisor.spawn(name, lambda name=name: self.events.post_forever(lambda: self.supervisor.beat(name)))
        if self.settings.gc_interval_seconds > 0:
            self.supervisor.spawn(
                "garbage-collector",
                lambda: gc.run_forever(
                    self.api,
                    self.settings.namespaces,
                    self.settings.gc_interval_seconds,
                    self.settings.gc_ttl_seconds,
                    self.settings.gc_page_size,
                    lambda: self.supervisor.beat("garbage-collector"),
                ),
            )
        sweeper = GhostSweeper(self._sweep_ghosts, self.settings.ghost_sweep_seconds)
        self.supervisor.spawn("ghost-sweep", lambda: sweeper.run_forever(lambda: self.supervisor.beat("ghost-sweep")))
        self.watches = self._watches(sweeper.relisted)
        for watch in self.watches:
            name = f"{watch.kind.lower()}-watch-{watch.namespace or 'all'}"
            self.supervisor.spawn(name, lambda watch=watch, name=name: watch.run_forever(lambda: self.supervisor.beat(name)))

    def _watches(self, relisted: Callable[[], None]) -> list[Watch]:
        """TaskActions and our pods (server-side selected: memory does not grow with the cluster's other pods), in
        each watched namespace or in all."""
        scopes: list[str | None] = list(self.settings.namespaces) or [None]
        watches = []
        for namespace in scopes:
            watches += [
                Watch(c.KIND, f"{c.GROUP}/{c.VERSION}", namespace, "", self.api.list_taskactions, self.api.watch_taskactions, self.on_taskaction_event, relisted),
                Watch("Pod", "v1", namespace, c.MANAGED_SELECTOR, self.api.list_pods, self.api.watch_pods, self.on_pod_event, relisted),
            ]
        return watches

    async def _sweep_ghosts(self) -> None:
        for key in await ghosts.sweep(self.api, self.settings.namespaces, self.taskactions, self.pods):
            self.queue.add(key)

    def listed(self) -> bool:
        """Every watch listed its objects once (readiness)."""
        return all(watch.listed for watch in self.watches)

    def alive(self) -> bool:
        """Every background loop works (liveness)."""
        return self.supervisor.alive()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.supervisor.stop()
        await self.reporter.stop()
        if self.cache is not None:
            await self.cache.close()

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            current_object.set(key)
            metrics.QUEUE_DEPTH.set(len(self.queue))
            metrics.IN_FLIGHT.inc()
            metrics.ACTIVE_WORKERS.labels(metrics.CONTROLLER).inc()
            started = time.monotonic()
            outcome = "ok"
            try:
                with tracing.reconcile_span(*key):
                    await self.reconcile_key(key)
                self._errors.pop(key, None)
            except asyncio.CancelledError:
                raise
            except ApiError as exc:
                outcome = "conflict" if exc.status == 409 else "api_error"
                self._retry_later(key, exc)
            except Exception as exc:  # a bug must not stop the worker; the action is retried with backoff
                outcome = "error"
                logger.exception("reconcile failed")
                self._retry_later(key, exc)
            finally:
                metrics.IN_FLIGHT.dec()
                metrics.RECONCILES.labels(outcome).inc()
                metrics.RECONCILE_SECONDS.labels(outcome).observe(time.monotonic() - started)
                self._controller_runtime_metrics(key, outcome, time.monotonic() - started)
                self.queue.done(key)

    def _controller_runtime_metrics(self, key: Key, outcome: str, seconds: float) -> None:
        metrics.ACTIVE_WORKERS.labels(metrics.CONTROLLER).dec()
        result = "error" if outcome != "ok" else "requeue_after" if self.queue.requeued_after(key) else "success"
        metrics.RECONCILE_TOTAL.labels(metrics.CONTROLLER, result).inc()
        if result == "error":
            metrics.RECONCILE_ERRORS.labels(metrics.CONTROLLER).inc()
        metrics.RECONCILE_TIME.labels(metrics.CONTROLLER).observe(seconds)

    def _retry_later(self, key: Key, exc: Exception) -> None:
        failures = self._errors[key]
        self._errors[key] = failures + 1
        delay = 0.0 if isinstance(exc, ApiError) and exc.status == 409 and failures < 3 else ERROR_BACKOFF[min(failures, len(ERROR_BACKOFF) - 1)]
        if isinstance(exc, ApiError) and exc.status == 409:
            logger.info("raced a newer version (%s); redoing", exc.message)
        else:
            logger.warning("%s; retrying in %.1fs", exc, delay)
        self.queue.add_after(key, delay)

    # One reconcile -------------------------------------------------------------------------------------------

    async def reconcile_key(self, key: Key) -> None:
        body = self.taskactions.get(key)
        if body is None:
            return
        namespace, name = key
        status = body.get("status") or {}
        pod = None
        # A finished action's pod plays no part in its decision (the terminal short-circuit, or a plain release).
        if (body.get("spec") or {}).get("actionType") != c.ACTION_TYPE_CONDITION and not st.is_terminal(status):
            pod_key = (namespace, pod_name(name, observed_attempts(status)))
            pod = self.pods.get(pod_key)
            if pod is not None and pod["metadata"].get("deletionTimestamp"):
                # The decision is about to wait for it to go: make sure it is not a ghost of a missed watch event.
                pod = await self._refreshed_pod(pod_key)
            elif pod is None and plugin_state.is_started(status):
                # The watch may lag behind our own create: ask before calling the pod lost.
                pod = await self.api.get_pod(*pod_key)
                if pod is not None:
                    pod = self.pods.put(pod)
        parent = await self._parent(body) if needs_parent(body) else None
        seen = Observed(body, pod, parent, self._ancestors(parent) if parent is not None else ())
        if pod is None and admission.limited(self.settings) and admission.may_start(body):
            # One start at a time while limits hold, so that two workers never both take the last free place.
            async with self._admission:
                blocked = admission.start_blocked(self.pods.summaries(), namespace, body["spec"].get("runName", ""), self.settings)
                await self._decide(body, replace(seen, start_blocked=blocked))
            return
        await self._decide(body, seen)

    async def _decide(self, body: dict[str, Any], seen: Observed) -> None:
        # The decision may first need something only I/O can tell (a PodTemplate, inputs.pb, what a succeeded pod
        # left in storage), or learn that its pod was refused: look it up and decide again, each at most once.
        namespace = body["metadata"]["namespace"]
        lookups = NOTHING_LOOKED_UP
        while True:
            plan = reconcile(seen, utcnow(), self.settings, lookups)
            if plan.lookup is not None:
                lookups = lookups.with_answer(plan.lookup, await self._look_up(namespace, plan.lookup))
                continue
            refused = await self.apply(body, plan)
            if refused is None or lookups.create_refused is not None:
                return
            lookups = replace(lookups, create_refused=refused)

    async def _look_up(self, namespace: str, request: Lookup) -> Any:
        if isinstance(request, FindPodTemplate):
            return await self._pod_template(namespace, request.name)
        if isinstance(request, ReadInputs):
            return await read_inputs(request.uri, self.settings)
        if isinstance(request, CacheGet):
            return await self.cache.get(request.key, request.task_id, request.outputs_uri, utcnow())  # type: ignore[union-attr]
        if isinstance(request, CachePut):
            return await self.cache.put(request.key, request.task_id, request.outputs_uri, request.execution, utcnow())  # type: ignore[union-attr]
        if isinstance(request, CacheReserve):
            return await self.cache.reserve(request.key, request.task_id, request.owner, request.heartbeat_seconds)  # type: ignore[union-attr]
        if isinstance(request, CacheRelease):
            return await self.cache.release(request.key, request.task_id, request.owner)  # type: ignore[union-attr]
        return await check_outputs(request.prefix, self.settings)

    async def _pod_template(self, namespace: str, name: str) -> dict[str, Any] | None:
        """Looked up when a pod is made (rare next to watch events): the task's namespace first, then the fallback."""
        found = await self.api.get_pod_template(namespace, name)
        fallback = self.settings.pod_template_namespace
        if found is None and fallback and fallback != namespace:
            found = await self.api.get_pod_template(fallback, name)
        return found

    async def _refreshed_pod(self, key: Key) -> dict[str, Any] | None:
        seen = self.pods.get(key)
        fresh = await self.api.get_pod(*key)
        if fresh is None:
            self.pods.discard(key, seen)
            return None
        return self.pods.put(fresh)

    async def _parent(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """From the store; asked of the API server when the store has none, or one being deleted (the child will
        wait on it: not on a ghost)."""
        name = parent_name(body["spec"])
        key = (body["metadata"]["namespace"], name)
        parent = self.taskactions.get(key)
        if parent is None or parent["metadata"].get("deletionTimestamp"):
            seen = parent
            parent = await self.api.get_taskaction(*key)
            if parent is None:
                # Created since the server answered, its watch event (handled meanwhile) queued it: keep it stored.
                self.taskactions.discard(key, seen)
            else:
                parent = self.taskactions.put(parent)
        return parent

    def _ancestors(self, parent: dict[str, Any]) -> list[dict[str, Any]]:
        """The parent's parent and up, as far as the store knows them, to find a loop in the lineage."""
        namespace = parent["metadata"]["namespace"]
        chain: list[dict[str, Any]] = []
        current: dict[str, Any] | None = parent
        while current is not None and len(chain) < MAX_LINEAGE:
            name = parent_name(current.get("spec") or {})
            current = self.taskactions.get((namespace, name)) if name else None
            if current is not None:
                chain.append(current)
                if any(a["metadata"]["name"] == name for a in chain[:-1]):
                    break
        return chain

    async def apply(self, body: dict[str, Any], plan: Plan) -> CreateRefused | None:
        """Carry the plan out; a refused pod create stops it there, and what the server said is returned."""
        namespace, name = key_of(body)
        key = (namespace, name)
        plan = self.reporter.hold(body, plan)
        if plan.create_pod is not None:
            if self._pod_creates is not None:
                await self._pod_creates.take()
            try:
                with self.pod_echoes.writing((namespace, plan.create_pod["metadata"]["name"]), lambda: self.queue.add(key)) as write:
                    created = await self.api.create_pod(namespace, plan.create_pod)
                    self.pods.put(created)
                    write.answered(created["metadata"].get("resourceVersion"))
                metrics.POD_CREATIONS.labels("created").inc()
            except ApiError as exc:
                if exc.status != 409:
                    metrics.POD_CREATIONS.labels(exc.reason or str(exc.status)).inc()
                    logger.warning("pod %s/%s could not be created: %s", namespace, plan.create_pod["metadata"]["name"], exc)
                    return CreateRefused(exc.status, exc.message)
                metrics.POD_CREATIONS.labels("already_exists").inc()
        # After the pod: the finalizer is not needed for cleanup (the pod's ownerReference is), so the pod is not
        # kept waiting for it. A conflict here is redone from the adopted pod.
        if plan.metadata_patch:
            patch = {"metadata": {**plan.metadata_patch, "resourceVersion": body["metadata"]["resourceVersion"]}}
            body = await self._written(self.api.patch_taskaction, namespace, name, patch)
        if plan.status_patch is not None:
            patch = {"metadata": {"resourceVersion": body["metadata"]["resourceVersion"]}, "status": plan.status_patch}
            body = await self._written(self.api.patch_taskaction_status, namespace, name, patch)
            metrics.TASKACTION_BYTES.observe(len(orjson.dumps(body)))
        if plan.delete_pod:
            await self._delete_pod(namespace, plan.delete_pod)
        if plan.remove_finalizer:
            # One write with the terminal labels, if any; guarded, as the list of finalizers is replaced whole.
            metadata: dict[str, Any] = {
                "finalizers": [f for f in body["metadata"].get("finalizers") or [] if f != c.FINALIZER],
                "resourceVersion": body["metadata"]["resourceVersion"],
            }
            if plan.terminal_labels:
                metadata["labels"] = plan.terminal_labels
            try:
                await self._written(self.api.patch_taskaction, namespace, name, {"metadata": metadata})
            except ApiError as exc:
                if exc.status != 404:
                    raise
        elif plan.terminal_labels:
            # Unguarded: labels are merged, so a newer object loses nothing.
            body = await self._written(self.api.patch_taskaction, namespace, name, {"metadata": {"labels": plan.terminal_labels}})
        for event in plan.events:
            self.events.record(body, event)
        if plan.waiting_for_parent:
            parent_key = (namespace, plan.waiting_for_parent)
            self._waiting_children[parent_key].add(key)
            if self.taskactions.get(parent_key) is not None:
                # The parent's event came between this decision and now, and woke nobody: look again at once.
                self.queue.add(key)
        if plan.requeue_after is not None:
            self.queue.add_after(key, plan.requeue_after)
        return None

    async def _delete_pod(self, namespace: str, name: str) -> None:
        """What the server answers goes into the store: the pod marked for deletion, so the next decision waits for
        it to go instead of taking it for the next launch; or, when it was gone already, nothing."""
        seen = self.pods.get((namespace, name))
        answer = await self.api.delete_pod(namespace, name)
        if answer is not None and answer.get("kind") == "Pod":
            self.pods.put(answer)
        else:
            self.pods.discard((namespace, name), seen)

    async def _written(self, patch_fn: Any, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A write of ours, its echo known as one. When guarded by resourceVersion (in `patch`), a conflict puts the
        fresh object in place of our stale one before the retry."""
        key = (namespace, name)
        try:
            with self.taskaction_echoes.writing(key, lambda: self.queue.add(key)) as write:
                written = await patch_fn(namespace, name, patch)
                write.answered(written["metadata"].get("resourceVersion"))
                stored = self.taskactions.put(written)
        except ApiError as exc:
            if exc.status == 409:
                fresh = await self.api.get_taskaction(namespace, name)
                if fresh is not None:
                    self.taskactions.put(fresh)
            raise
        self.reporter.observe((namespace, name), stored)
        return stored

    def phase_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for phase, _ in self.taskactions.summaries():  # type: ignore[misc]
            counts[phase] += 1
        return counts


def summary_of_taskaction(body: dict[str, Any]) -> tuple[str, bool]:
    """What is read of every TaskAction without decoding it (the TaskAction store's summary): its phase (the phase
    gauge) and whether it finished (the pods' events)."""
    return (body.get("status") or {}).get("pluginPhase") or "Unknown", finished(body)

