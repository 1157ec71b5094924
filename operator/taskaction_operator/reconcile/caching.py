"""The task cache (`cache=` on a task: TaskTemplate.metadata.discoverable), as the Go executor's taskaction_cache.go
(evaluateCacheBeforeExecution, finalizeCacheAfterExecution) does it, with the cache service at
TASKACTION_CACHE_SERVICE_URL:

- before an attempt's pod is made, the entry of its key is looked up; a hit has its outputs copied to the attempt's
  outputs.pb and the action Succeeded with no pod (CACHE_HIT); a miss (CACHE_MISS) or a failed lookup
  (CACHE_LOOKUP_FAILURE, and a Warning) runs the pod;
- after a success the outputs are written back (CACHE_POPULATED, an entry already there included) or not
  (CACHE_PUT_FAILURE, and a Warning), before the terminal status is written: a restart in between writes back again.

The key is catalog.keys.cache_key of the template, inputs.pb and spec.cacheKey. Differences from upstream: the status
says MISS / LOOKUP_FAILURE while the pod runs (upstream reports DISABLED until the write-back); the lookup is done
once per launch, not on every reconcile until the pod runs; without a cache service URL nothing is looked up
(upstream's default URL is http://localhost:8094); a discoverable template without an id runs uncached with a
LOOKUP_FAILURE instead of being requeued for ever; cache_serializable reservations are not taken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from flyteidl2.core import tasks_pb2

from ..api import phase as ph
from ..api.models import TaskAction
from ..catalog import client as cache
from ..catalog.keys import cache_key, needs_inputs
from ..storage import paths
from ..storage.outputs import OUTPUTS_FILE, output_file
from ..settings import Settings
from .lookups import Lookups
from .plan import CacheGet, CachePut, Event, Lookup, Plan, ReadInputs

CACHE_HIT_REASON = "cache hit"


class Reconcile(Protocol):
    """What of task.TaskReconcile the cache stages use."""

    settings: Settings
    template: tasks_pb2.TaskTemplate
    ta: TaskAction
    lookups: Lookups
    status: dict[str, Any]
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


def _ask(r: Reconcile, request_for: Callable[[str], CacheGet | CachePut], failure: int, problem: str = "") -> cache.CacheAnswer | Plan:
    """The cache service's answer to the request for the attempt's key; first the plan for what must be looked up;
    a `failure` without asking when there is no key, or when `problem` says why the request is not to be made."""
    key = _key(r)
    if isinstance(key, Plan):
        return key
    if key.problem or problem:
        return cache.CacheAnswer(failure, key.problem or problem)
    request = request_for(key.key)
    if not r.lookups.answers(request):
        return r.lookup(request)
    return r.lookups.cache_get if isinstance(request, CacheGet) else r.lookups.cache_put  # type: ignore[return-value]


def _record(r: Reconcile, answer: cache.CacheAnswer, warning: str) -> None:
    r.status["cacheStatus"] = answer.status
    if answer.status in (cache.LOOKUP_FAILURE, cache.PUT_FAILURE):
        r.plan.events.append(Event("Warning", warning, answer.reason))


def before_launch(r: Reconcile) -> Plan | None:
    """The lookup before a pod is made: a plan for the lookup or the hit; None to make the pod."""
    answer = _ask(r, lambda key: CacheGet(key, r.template.id, _outputs_uri(r)), cache.LOOKUP_FAILURE)
    if isinstance(answer, Plan):
        return answer
    _record(r, answer, "CacheLookupFailed")
    return r.conclude(ph.PhaseInfo(ph.Phase.SUCCESS, CACHE_HIT_REASON)) if answer.status == cache.HIT else None


def write_back(r: Reconcile) -> Plan | None:
    """After a success: the plan for the write-back; None once it is done (the status says how it went)."""
    spec = r.ta.spec
    execution = cache.Execution(spec.project, spec.domain, spec.run_name, spec.action_name, r.attempt - 1)
    outputs = r.lookups.outputs
    missing = f"output file does not exist at {_outputs_uri(r)}" if outputs is not None and not outputs.outputs_found else ""
    answer = _ask(r, lambda key: CachePut(key, r.template.id, _outputs_uri(r), execution), cache.PUT_FAILURE, missing)
    if isinstance(answer, Plan):
        return answer
    _record(r, answer, "CachePutFailed")
    return None
