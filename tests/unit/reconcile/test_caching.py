"""The task cache in the decision (reconcile/caching.py): the lookup before the pod, a hit that ends the action
with no pod, a miss or a failed lookup that runs it, and the write-back after a success, before the terminal status."""

from __future__ import annotations

from typing import Any

from flyteidl2.core import interface_pb2, literals_pb2, tasks_pb2, types_pb2

from taskaction_operator.api import constants as c
from taskaction_operator.catalog import client as cache
from taskaction_operator.catalog.keys import cache_key
from taskaction_operator.reconcile.lookups import Lookups
from taskaction_operator.reconcile.plan import CacheGet, CachePut, Lookup, Plan, ReadInputs, ReadOutputs
from taskaction_operator.reconcile.task import reconcile_task
from taskaction_operator.settings import Settings
from taskaction_operator.storage.inputs import InputsLookup
from taskaction_operator.storage.outputs import OutputCheck

from ..builders import (
    INPUT_URI,
    NOW,
    ROOT_OUTPUT_1,
    World,
    cond_tuple,
    failed_pod,
    spec,
    started_status,
    succeeded_pod,
    task_template,
    taskaction,
)

FIN = c.FINALIZER

SETTINGS = Settings(cache_service_url="http://127.0.0.1:8094", read_outputs=False)
INPUTS = {"x": literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=3)))}
OUTPUTS_URI = f"{ROOT_OUTPUT_1}/outputs.pb"


def cached_template(discoverable: bool = True) -> tasks_pb2.TaskTemplate:
    template = task_template()
    template.metadata.discoverable = discoverable
    integer = interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.INTEGER))
    template.interface.inputs.variables.add(key="x", value=integer)
    template.interface.outputs.variables.add(key="o0", value=integer)
    return template


def body(template: tasks_pb2.TaskTemplate | None = None, **kwargs: Any) -> dict[str, Any]:
    return taskaction(spec_=spec(template or cached_template(), cacheKey="v1"), **kwargs)


KEY = cache_key(cached_template(), INPUTS, "v1")


def decide(body_: dict[str, Any], answers: dict[type, Any], pod: dict[str, Any] | None = None, settings: Settings = SETTINGS) -> tuple[Plan, list[Lookup]]:
    """The decision with the lookups it asks for answered from `answers`, as the shell does; and what it asked."""
    lookups, asked = Lookups(), []
    while True:
        plan = reconcile_task(body_, pod, None, NOW, settings, lookups)
        if plan.lookup is None:
            return plan, asked
        asked.append(plan.lookup)
        lookups = lookups.with_answer(plan.lookup, answers[type(plan.lookup)])


def test_the_lookup_comes_first_with_upstreams_key() -> None:
    _, asked = decide(body(), {ReadInputs: InputsLookup(literals=INPUTS), CacheGet: cache.CacheAnswer(cache.MISS)})
    assert asked == [ReadInputs(INPUT_URI), CacheGet(KEY, cached_template().id, OUTPUTS_URI)]


def test_a_hit_succeeds_with_no_pod() -> None:
    plan, _ = decide(body(), {ReadInputs: InputsLookup(literals=INPUTS), CacheGet: cache.CacheAnswer(cache.HIT)})
    assert plan.create_pod is None and plan.metadata_patch is None  # no pod, so no finalizer either
    assert plan.status_patch["cacheStatus"] == cache.HIT
    assert cond_tuple(plan.status_patch, "Succeeded") == ("True", "Completed", "TaskAction completed successfully")
    assert [entry["phase"] for entry in plan.status_patch["phaseHistory"]] == ["Completed"]
    assert plan.terminal_labels is not None


def test_a_miss_runs_the_pod_and_says_so() -> None:
    plan, _ = decide(body(), {ReadInputs: InputsLookup(literals=INPUTS), CacheGet: cache.CacheAnswer(cache.MISS)})
    assert plan.create_pod is not None and plan.status_patch["cacheStatus"] == cache.MISS
    assert [e.type for e in plan.events] == ["Normal"]  # Queued


def test_a_failed_lookup_runs_the_pod_with_a_warning() -> None:
    plan, _ = decide(body(), {ReadInputs: InputsLookup(literals=INPUTS), CacheGet: cache.CacheAnswer(cache.LOOKUP_FAILURE, "cache lookup: unavailable")})
    assert plan.create_pod is not None and plan.status_patch["cacheStatus"] == cache.LOOKUP_FAILURE
    assert ("Warning", "CacheLookupFailed", "cache lookup: unavailable") in [(e.type, e.reason, e.message) for e in plan.events]


def test_unreadable_inputs_are_a_failed_lookup() -> None:
    plan, asked = decide(body(), {ReadInputs: InputsLookup(error="connection refused")})
    assert asked == [ReadInputs(INPUT_URI)]
    assert plan.create_pod is not None and plan.status_patch["cacheStatus"] == cache.LOOKUP_FAILURE


def test_a_discoverable_task_without_an_id_runs_uncached() -> None:
    template = cached_template()
    template.ClearField("id")
    plan, asked = decide(body(template), {ReadInputs: InputsLookup(literals=INPUTS)})
    assert asked == [] and plan.create_pod is not None
    assert plan.status_patch["cacheStatus"] == cache.LOOKUP_FAILURE and plan.events[0].message == "discoverable task is missing identifier"


def test_nothing_is_looked_up_when_the_task_or_the_operator_does_not_cache() -> None:
    for body_, settings in ((body(cached_template(discoverable=False)), SETTINGS), (body(), Settings())):
        plan, asked = decide(body_, {}, settings=settings)
        assert asked == [] and plan.create_pod is not None and plan.status_patch["cacheStatus"] == 0


def succeeded(status: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    return body(finalizers=[FIN], status=status or started_status(cacheStatus=cache.MISS)), succeeded_pod()


def test_a_success_is_written_back_before_the_terminal_status() -> None:
    body_, pod = succeeded()
    answers = {ReadInputs: InputsLookup(literals=INPUTS), ReadOutputs: OutputCheck(outputs_found=True), CachePut: cache.CacheAnswer(cache.POPULATED)}
    plan, asked = decide(body_, answers, pod, settings=SETTINGS.model_copy(update={"read_outputs": True}))
    assert asked[-1] == CachePut(KEY, cached_template().id, OUTPUTS_URI, cache.Execution("flytesnacks", "development", "rabc123", "a0", 0))
    assert plan.status_patch["cacheStatus"] == cache.POPULATED
    assert cond_tuple(plan.status_patch, "Succeeded")[0] == "True"


def test_a_failed_write_back_still_succeeds_with_a_warning() -> None:
    body_, pod = succeeded()
    plan, _ = decide(body_, {ReadInputs: InputsLookup(literals=INPUTS), CachePut: cache.CacheAnswer(cache.PUT_FAILURE, "cache write-back: unavailable")}, pod)
    assert plan.status_patch["cacheStatus"] == cache.PUT_FAILURE
    assert cond_tuple(plan.status_patch, "Succeeded")[0] == "True"
    assert ("CachePutFailed", "cache write-back: unavailable") in [(e.reason, e.message) for e in plan.events]


def test_no_outputs_pb_is_a_failed_write_back_without_asking() -> None:
    template = cached_template()
    template.interface.outputs.ClearField("variables")  # a task without outputs may succeed without outputs.pb
    body_ = taskaction(spec_=spec(template, cacheKey="v1"), finalizers=[FIN], status=started_status(cacheStatus=cache.MISS))
    answers = {ReadInputs: InputsLookup(literals=INPUTS), ReadOutputs: OutputCheck(outputs_found=False)}
    plan, asked = decide(body_, answers, succeeded_pod(), settings=SETTINGS.model_copy(update={"read_outputs": True}))
    assert not any(isinstance(a, CachePut) for a in asked)
    assert plan.status_patch["cacheStatus"] == cache.PUT_FAILURE


def test_a_failed_task_is_not_written_back() -> None:
    world = World(body(finalizers=[FIN], status=started_status(cacheStatus=cache.MISS)), SETTINGS)
    world.pods[world.current_pod_name()] = failed_pod()
    plan = world.reconcile()
    assert plan.lookup is None and cond_tuple(plan.status_patch, "Failed")[0] == "True"
    assert world.status["cacheStatus"] == cache.MISS
