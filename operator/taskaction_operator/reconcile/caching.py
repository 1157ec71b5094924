"""The task cache (`cache=` on a task: TaskTemplate.metadata.discoverable), as the Go executor's taskaction_cache.go
(evaluateCacheBeforeExecution, finalizeCacheAfterExecution) does it, with the cache service at
TASKACTION_CACHE_SERVICE_URL:

- before an attempt's pod is made, the entry of its key is looked up; a hit has its outputs copied to the attempt's
  outputs.pb and the action Succeeded with no pod (CACHE_HIT); a miss (CACHE_MISS) or a failed lookup
  (CACHE_LOOKUP_FAILURE, and a Warning) runs the pod;
- a serializable task (cache_serializable) takes the key's reservation after a miss and extends it every 10 s while
  its pod runs; while another action holds it, it waits (WaitingForCache, looked up again every 10 s: a hit once the
  owner wrote back); the reservation is released when the launch ends (success, failure, restart);
- after a success the outputs are written back (CACHE_POPULATED, an entry already there included) or not
  (CACHE_PUT_FAILURE, and a Warning), before the terminal status is written: a restart in between writes back again.

The key is catalog.keys.cache_key of the template, inputs.pb and spec.cacheKey. Differences from upstream: the status
says MISS / LOOKUP_FAILURE while the pod runs (upstream reports DISABLED until the write-back); the lookup is done
once per launch, not on every reconcile until the pod runs; without a cache service URL nothing is looked up
(upstream's default URL is http://localhost:8094); a discoverable template without an id runs uncached with a
LOOKUP_FAILURE instead of being requeued for ever; a reservation that cannot be had (the service refusing) runs the
task with a Warning instead of requeueing until it can; a deleted action does not release its reservation (it lapses
within the cache service's grace, 30 s by default); a lost reservation while the pod runs is warned of, the pod is not
stopped (upstream turns the running action back to WaitingForCache).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flyteidl2.core import tasks_pb2

from ..api import phase as ph
from ..api.models import TaskAction
from ..catalog import client as cache
from ..catalog.keys import cache_key, needs_inputs
from ..settings import Settings
from ..storage import paths
from ..storage.outputs import OUTPUTS_FILE, output_file
from . import plugin_state
from . import status as st
from .lookups import Lookups
from .plan import CacheGet, CacheLookup, CachePut, CacheRelease, CacheReserve, Event, Lookup, Plan, ReadInputs

CACHE_HIT_REASON = "cache hit"
# Upstream asks for its requeue period (10 s); the cache service clamps it to its maxReservationHeartbeat (10 s) and
# lets a reservation lapse after 3 of them.
RESERVATION_HEARTBEAT_SECONDS = 10.0


class Reconcile(Protocol):
    """What of task.TaskReconcile the cache stages use."""

    settings: Settings
    template: tasks_pb2.TaskTemplate
    ta: TaskAction
    lookups: Lookups
    status: dict[str, Any]
    stored: dict[str, Any]
    plan: Plan

    @property
    def meta(self) -> dict[str, Any]: ...

    @property
    def attempt(self) -> int: ...

    def lookup(self, request: Lookup) -> Plan: ...

    def conclude(self, info: ph.PhaseInfo) -> Plan: ...


@dataclass(frozen=True)
class _Key:
    key: str = ""
    problem: str = ""  # why there is none


def enabled(r: Reconcile) -> bool:
    return bool(r.settings.cache_service_url) and r.template.metadata.discoverable


def _key(r: Reconcile) -> _Key | Plan:
    """The attempt's cache key; first the plan to read inputs.pb when the key needs them."""
    if not r.template.HasField("id"):
        return _Key(problem="discoverable task is missing identifier")
    literals: dict[str, Any] = {}
    if needs_inputs(r.template):
        inputs = r.lookups.inputs
        if inputs is None:
            return r.lookup(ReadInputs(paths.inputs_file(r.ta.spec.input_uri or "")))
        if inputs.error:
            return _Key(problem=inputs.error)
        literals = inputs.literals or {}
    return _Key(key=cache_key(r.template, literals, r.ta.spec.cache_key or ""))


def _outputs_uri(r: Reconcile) -> str:
    spec = r.ta.spec
    prefix = paths.action_output_prefix(r.meta["namespace"], r.meta["name"], spec.run_output_base or "", spec.action_name, r.attempt)
    return output_file(prefix, OUTPUTS_FILE)


def _ask(r: Reconcile, request_for: Callable[[str], CacheLookup], failed: Callable[[str], Any], problem: str = "") -> Any:
    """The cache service's answer to the request for the attempt's key; first the plan for what must be looked up;
    `failed(why)` without asking when there is no key, or when `problem` says why the request is not to be made."""
    key = _key(r)
    if isinstance(key, Plan):
        return key
    if key.problem or problem:
        return failed(key.problem or problem)
    request = request_for(key.key)
    if not r.lookups.answers(request):
        return r.lookup(request)
    return r.lookups.cache_answer(request)


def _record(r: Reconcile, answer: cache.CacheAnswer, warning: str) -> None:
    r.status["cacheStatus"] = answer.status
    if answer.status in (cache.LOOKUP_FAILURE, cache.PUT_FAILURE):
        r.plan.events.append(Event("Warning", warning, answer.reason))


def _owner(r: Reconcile) -> str:
    """cacheReservationOwnerID: the TaskAction's namespace/name."""
    return f"{r.meta['namespace']}/{r.meta['name']}"


def _reserve(r: Reconcile) -> cache.Reservation | Plan:
    return _ask(
        r,
        lambda key: CacheReserve(key, r.template.id, _owner(r), RESERVATION_HEARTBEAT_SECONDS),
        lambda why: cache.Reservation(reason=why),
    )


def before_launch(r: Reconcile) -> Plan | None:
    """The lookup before a pod is made, and for a serializable task on a miss the reservation: a plan for a lookup,
    the hit, or the wait for another owner; None to make the pod."""
    answer = _ask(r, lambda key: CacheGet(key, r.template.id, _outputs_uri(r)), lambda why: cache.CacheAnswer(cache.LOOKUP_FAILURE, why))
    if isinstance(answer, Plan):
        return answer
    _record(r, answer, "CacheLookupFailed")
    if answer.status == cache.HIT:
        return r.conclude(ph.PhaseInfo(ph.Phase.SUCCESS, CACHE_HIT_REASON))
    if not r.template.metadata.cache_serializable or answer.status != cache.MISS:
        return None  # upstream reserves only after a plain miss
    held = _reserve(r)
    if isinstance(held, Plan):
        return held
    if held.reason:
        r.plan.events.append(Event("Warning", "CacheReservationFailed", f"{held.reason}; running without the reservation"))
        return None
    if held.owner == _owner(r):
        return None
    plan = r.conclude(ph.PhaseInfo(ph.Phase.WAITING_FOR_CACHE, f"waiting for cache to be populated by reservation owner {json.dumps(held.owner)}"))
    plan.requeue(RESERVATION_HEARTBEAT_SECONDS)  # asked again: a hit once the owner wrote back, or the reservation once it let go
    return plan


def write_back(r: Reconcile) -> Plan | None:
    """After a success: the plan for the write-back; None once it is done (the status says how it went)."""
    spec = r.ta.spec
    execution = cache.Execution(spec.project, spec.domain, spec.run_name, spec.action_name, r.attempt - 1)
    outputs = r.lookups.outputs
    missing = f"output file does not exist at {_outputs_uri(r)}" if outputs is not None and not outputs.outputs_found else ""
    answer = _ask(
        r, lambda key: CachePut(key, r.template.id, _outputs_uri(r), execution), lambda why: cache.CacheAnswer(cache.PUT_FAILURE, why), missing
    )
    if isinstance(answer, Plan):
        return answer
    _record(r, answer, "CachePutFailed")
    return None


def holds_reservation(r: Reconcile) -> bool:
    """A pod of a serializable task was launched after a miss (before this reconcile): its reservation is held."""
    return bool(r.template.metadata.cache_serializable and r.stored.get("cacheStatus") == cache.MISS and plugin_state.is_started(r.stored))


def keep_or_release(r: Reconcile) -> Plan | None:
    """While the launch runs its reservation is extended, every heartbeat; once it is over (finished, or restarted:
    the plugin state reset) it is released. A plan for the lookup; None once done (a failure only warned of)."""
    if plugin_state.is_started(r.status) and not st.is_terminal(r.status):
        held = _reserve(r)
        if isinstance(held, Plan):
            return held
        if held.reason or held.owner != _owner(r):
            r.plan.events.append(Event("Warning", "CacheReservationLost", held.reason or f"the reservation is held by {held.owner}"))
        r.plan.requeue(RESERVATION_HEARTBEAT_SECONDS)
        return None
    failure = _ask(r, lambda key: CacheRelease(key, r.template.id, _owner(r)), lambda why: why)
    if isinstance(failure, Plan):
        return failure
    if failure:
        r.plan.events.append(Event("Warning", "CacheReservationNotReleased", failure))
    return None
