"""Deliver the ActionEvents of every TaskAction to the Flyte events service (flyteidl2 EventsProxyService/Record).

The events of an action are a pure function of its stored TaskAction (reporting/action_events.py). This keeps, per
action and in memory only, how many of them the service accepted, and sends the rest: in order per action (never two
batches with events of one action in flight), batched across actions (up to 400 events, gathered for 25 ms, as
upstream's event_batcher.go), retried with capped exponential backoff. Reconciles never wait for it. The service
refuses a whole batch when one event is invalid: the actions of such a batch are then sent one per batch, so that one
bad action backs off alone instead of holding the others back.

What it keeps is bounded by the actions the controller's store holds (a few counts each); the events themselves are
derived when they are sent, from the TaskAction as the store holds it then. A deleted action is forgotten as soon as the operator
let go of it (its finalizer removed), not when it is gone: what the abort wait gave up on is never sent later. After a restart the memory is empty, so everything is
sent again (the service keeps the first event of each (attempt, phase, version) and drops repeats), except for actions
whose terminal labels are set: those are written only once all events were accepted (reporting/delivery.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.workflow.events_proxy_service_connect import EventsProxyServiceClient
from flyteidl2.workflow.events_proxy_service_pb2 import RecordRequest

from .. import metrics
from ..api.times import utcnow
from ..pods.naming import pod_name
from ..reconcile.plan import Plan
from ..reporting import action_events, delivery
from ..settings import Settings
from .store import Key, ObjectStore

logger = logging.getLogger(__name__)
BATCH_MAX_EVENTS = 400
BATCH_DELAY_SECONDS = 0.025
RECORD_TIMEOUT_MS = 30_000
SENDERS = 4
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0


@dataclass
class _Action:
    uid: str
    known: int  # events the latest body calls for
    accepted: int = 0
    sending: bool = False
    alone: bool = False  # was in a batch the service refused as invalid: sent in batches of its own, so it alone waits
    refusals: int = 0  # invalid batches of its own in a row
    retry_at: float = 0.0  # loop time before which it is not sent again


@dataclass(frozen=True)
class _Part:
    """The events of one action in a batch: its events from `start` on, `len(events)` of them."""

    key: Key
    uid: str
    start: int
    events: list[action_events.ActionEvent]


class ActionReporter:
    def __init__(self, settings: Settings, taskactions: ObjectStore, pods: ObjectStore, requeue: Callable[[Key], None]):
        self.url = settings.events_service_url
        self.abort_wait_seconds = settings.abort_event_wait_seconds
        self.reporting = action_events.Reporting(settings.events_cluster, settings.logs)
        self._taskactions = taskactions
        self._pods = pods
        self._requeue = requeue
        self._actions: dict[Key, _Action] = {}
        self._pending: dict[Key, None] = {}  # actions with events to send and none in flight, oldest first
        self._wake = asyncio.Event()
        self._failures = 0
        self._retry_at = 0.0
        self._client: EventsProxyServiceClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        metrics.ACTION_EVENTS_PENDING.set_function(self.pending)

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    # What the controller tells it and asks it ----------------------------------------------------------------

    def observe(self, key: Key, body: dict[str, Any] | None) -> None:
        """The latest TaskAction of this key as the controller holds it (None: it is gone)."""
        if not self.enabled:
            return
        if body is None or delivery.let_go(body):
            self._actions.pop(key, None)
            self._pending.pop(key, None)
            return
        uid = body["metadata"].get("uid") or ""
        known = action_events.count(body)
        tracked = self._actions.get(key)
        if tracked is None or tracked.uid != uid:
            tracked = _Action(uid, known, accepted=known if delivery.all_reported(body) else 0)
            self._actions[key] = tracked
        tracked.known = known
        self._settle(key, tracked, body)

    def reported(self, body: dict[str, Any]) -> bool:
        """Every event this TaskAction calls for was accepted (always, when reporting is off)."""
        if not self.enabled:
            return True
        tracked = self._actions.get((body["metadata"]["namespace"], body["metadata"]["name"]))
        if tracked is None or tracked.uid != body["metadata"].get("uid"):
            return action_events.count(body) == 0 or delivery.all_reported(body)
        return tracked.accepted >= action_events.count(body)

    def hold(self, body: dict[str, Any], plan: Plan) -> Plan:
        """The plan without what must wait for this action's events (Controller.apply carries out the rest); with
        reporting off, the plan as it is."""
        if not self.enabled:
            return plan
        reported = self.reported(body)
        held = delivery.hold(body, plan, reported, utcnow(), self.abort_wait_seconds)
        if held.remove_finalizer and not reported:
            metrics.ACTION_EVENTS_ABANDONED.inc()
            logger.warning("its events were not accepted within %.0fs of its deletion; removing the finalizer anyway", self.abort_wait_seconds)
        return held

    def pending(self) -> float:
        return float(sum(max(a.known - a.accepted, 0) for a in self._actions.values()))

    def _settle(self, key: Key, tracked: _Action, body: dict[str, Any] | None) -> None:
        """Queue what is left to send; with nothing left, let whatever waited for delivery go on."""
        if tracked.sending:
            return
        if tracked.accepted < tracked.known:
            self._pending[key] = None
            self._wake.set()
        elif body is not None and delivery.waits_for_delivery(body):
            self._requeue(key)

    # Sending ---------------------------------------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled:
            return
        self._client = EventsProxyServiceClient(self.url.rstrip("/"), timeout_ms=RECORD_TIMEOUT_MS)  # type: ignore[union-attr]
        self._tasks = [asyncio.create_task(self._sender(), name=f"action-event-sender-{i}") for i in range(SENDERS)]
        logger.info("Reporting action events to %s", self.url)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()

    async def _sender(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            await asyncio.sleep(max(self._retry_at - loop.time(), BATCH_DELAY_SECONDS))  # gather a batch
            batch = self._next_batch(loop.time())
            if batch:
                await self._send(batch)
            elif self._pending:  # all of them back off on their own: until the first is due, or something new
                self._wake.clear()
                due = min((a.retry_at for k in self._pending if (a := self._actions.get(k))), default=loop.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(due - loop.time(), 0.0))

    def _next_batch(self, clock: float) -> list[_Part]:
        batch: list[_Part] = []
        room = BATCH_MAX_EVENTS
        now = utcnow()
        for key in list(self._pending):
            if room <= 0:
                break
            tracked = self._actions.get(key)
            if tracked is None or tracked.sending or tracked.accepted >= tracked.known:
                del self._pending[key]
                continue
            if tracked.retry_at > clock or (tracked.alone and batch):
                continue
            del self._pending[key]
            body = self._taskactions.get(key)
            if body is None or body["metadata"].get("uid") != tracked.uid:
                continue  # gone meanwhile: the controller tells observe()
            namespace, name = key
            events = action_events.action_events(
                body, self.reporting, lambda attempt: self._pods.get((namespace, pod_name(name, attempt))), now, tracked.accepted
            )[:room]
            if not events:
                continue
            tracked.sending = True
            batch.append(_Part(key, tracked.uid, tracked.accepted, events))
            room -= len(events)
            if tracked.alone:
                break
        return batch

    async def _send(self, batch: list[_Part]) -> None:
        events = [event for part in batch for event in part.events]
        started = time.monotonic()
        try:
            await self._client.record(RecordRequest(events=events))  # type: ignore[union-attr]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the service is down, slow or refuses: all of it is sent again later
            reason = exc.code.value if isinstance(exc, ConnectError) else type(exc).__name__
            metrics.ACTION_EVENTS_FAILED.labels(reason).inc(len(events))
            metrics.ACTION_EVENT_BATCH_SECONDS.labels("error").observe(time.monotonic() - started)
            if isinstance(exc, ConnectError) and exc.code is Code.INVALID_ARGUMENT:
                self._refused(batch, exc)
            else:
                self._failures += 1
                delay = _backoff(self._failures)
                self._retry_at = asyncio.get_running_loop().time() + delay
                logger.warning("%d action events not recorded (%s: %s); retrying in %.1fs", len(events), reason, exc, delay)
            self._finish(batch, accepted=False)
            return
        metrics.ACTION_EVENT_BATCH_SECONDS.labels("ok").observe(time.monotonic() - started)
        metrics.ACTION_EVENT_BATCH_SIZE.observe(len(events))
        metrics.ACTION_EVENTS_SENT.inc(len(events))
        self._failures = 0
        self._finish(batch, accepted=True)

    def _refused(self, batch: list[_Part], exc: ConnectError) -> None:
        """An invalid batch: its actions are tried again one per batch; an action refused alone backs off alone."""
        for part in batch:
            tracked = self._actions.get(part.key)
            if tracked is None:
                continue
            if len(batch) == 1 and tracked.alone:
                tracked.refusals += 1
                delay = _backoff(tracked.refusals)
                tracked.retry_at = asyncio.get_running_loop().time() + delay
                logger.error("the events service refuses the events of %s/%s (%s); retrying in %.1fs", *part.key, exc, delay)
            tracked.alone = True

    def _finish(self, batch: list[_Part], accepted: bool) -> None:
        for part in batch:
            tracked = self._actions.get(part.key)
            if tracked is None or tracked.uid != part.uid:
                continue  # gone while in flight
            tracked.sending = False
            if accepted:
                tracked.accepted = max(tracked.accepted, part.start + len(part.events))
                tracked.alone, tracked.refusals, tracked.retry_at = False, 0, 0.0
            self._settle(part.key, tracked, self._taskactions.get(part.key))


def _backoff(failures: int) -> float:
    return min(BACKOFF_FIRST_SECONDS * 2 ** (failures - 1), BACKOFF_MAX_SECONDS)
