"""The task cache in the decision (reconcile/caching.py): the lookup before the pod, a hit that ends the action
with no pod, a miss or a failed lookup that runs it, and the write-back after a success, before the terminal status."""

from __future__ import annotations

from typing import Any

from flyteidl2.core import interface_pb2, literals_pb2, tasks_pb2, types_pb2

from taskaction_operator.api import constants as c
from taskaction_operator.catalog import client as cache
from taskaction_operator.catalog.keys import cache_key
from taskaction_operator.reconcile.lookups import Lookups
from taskaction_operator.reconcile.plan import CacheGet, CachePut, CacheRelease, CacheReserve, Lookup, Plan, ReadInputs, ReadOutputs
from taskaction_operator.reconcile.task import reconcile_task
from taskaction_operator.settings import Settings
from taskaction_operator.storage.inputs import InputsLookup
from taskaction_operator.storage.outputs import OutputCheck

from .. import builders as b

FIN = c.FINALIZER

SETTINGS = Settings(cache_service_url="http://127.0.0.1:8094", read_outputs=False)
INPUTS = {"x": literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=3)))}
OUTPUTS_URI = f"{b.ROOT_OUTPUT_1}/outputs.pb"


def cached_template(discoverable: bool = True) -> tasks_pb2.TaskTemplate:
    template = b.task_template()
    template.metadata.discoverable = discoverable
    integer = interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.INTEGER))
    template.interface.inputs.variables.add(key="x", value=integer)
    template.interface.outputs.variables.add(key="o0", value=integer)
    return template


def body(template: tasks_pb2.TaskTemplate | None = None, **kwargs: Any) -> dict[str, Any]:
    return b.taskaction(spec_=b.spec(template or cached_template(), cacheKey="v1"), **kwargs)


KEY = cache_key(cached_template(), INPUTS, "v1")


def decide(body_: dict[str, Any], answers: dict[type, Any], pod: dict[str, Any] | None = None, settings: Settings = SETTINGS) -> tuple[Plan, list[Lookup]]:
    """The decision with the lookups it asks for answered from `answers`, as the shell does; and what it asked."""
    lookups, asked = Lookups(), []
    while True:
        plan = reconcile_task(body_, pod, None, b.NOW, settings, lookups)
        if plan.lookup is None:
            return plan, asked
        asked.append(plan.lookup)
        lookups = lookups.with_answer(plan.lookup, answers[type(plan.lookup)])


def test_the_lookup_comes_first_with_upstreams_key() -> None:
    _, asked = decide(body(), {ReadInputs: InputsLookup(literals=INPUTS), CacheGet: cache.CacheAnswer(cache.MISS)})
    assert asked == [ReadInputs(b.INPUT_URI), CacheGet(KEY, cached_template().id, OUTPUTS_URI)]


def test_a_hit_succeeds_with_no_pod() -> None:
    plan, _ = decide(body(), {ReadInputs: InputsLookup(literals=INPUTS), CacheGet: cache.CacheAnswer(cache.HIT)})
    assert plan.create_pod is None and plan.metadata_patch is None  # no pod, so no finalizer either
    assert plan.status_patch["cacheStatus"] == cache.HIT
    assert b.cond_tuple(plan.status_patch, "Succeeded") == ("True", "Completed", "TaskAction completed successfully")
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
    assert asked == [ReadInputs(b.INPUT_URI)]
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
    return body(finalizers=[FIN], status=status or b.started_status(cacheStatus=cache.MISS)), b.succeeded_pod()


def test_a_success_is_written_back_before_the_terminal_status() -> None:
    body_, pod = succeeded()
    answers = {ReadInputs: InputsLookup(literals=INPUTS), ReadOutputs: OutputCheck(outputs_found=True), CachePut: cache.CacheAnswer(cache.POPULATED)}
    plan, asked = decide(body_, answers, pod, settings=SETTINGS.model_copy(update={"read_outputs": True}))
    assert asked[-1] == CachePut(KEY, cached_template().id, OUTPUTS_URI, cache.Execution("flytesnacks", "development", "rabc123", "a0", 0))
    assert plan.status_patch["cacheStatus"] == cache.POPULATED
    assert b.cond_tuple(plan.status_patch, "Succeeded")[0] == "True"


def test_a_failed_write_back_still_succeeds_with_a_warning() -> None:
    body_, pod = succeeded()
    plan, _ = decide(body_, {ReadInputs: InputsLookup(literals=INPUTS), CachePut: cache.CacheAnswer(cache.PUT_FAILURE, "cache write-back: unavailable")}, pod)
    assert plan.status_patch["cacheStatus"] == cache.PUT_FAILURE
    assert b.cond_tuple(plan.status_patch, "Succeeded")[0] == "True"
    assert ("CachePutFailed", "cache write-back: unavailable") in [(e.reason, e.message) for e in plan.events]


def test_no_outputs_pb_is_a_failed_write_back_without_asking() -> None:
    template = cached_template()
    template.interface.outputs.ClearField("variables")  # a task without outputs may succeed without outputs.pb
    body_ = b.taskaction(spec_=b.spec(template, cacheKey="v1"), finalizers=[FIN], status=b.started_status(cacheStatus=cache.MISS))
    answers = {ReadInputs: InputsLookup(literals=INPUTS), ReadOutputs: OutputCheck(outputs_found=False)}
    plan, asked = decide(body_, answers, b.succeeded_pod(), settings=SETTINGS.model_copy(update={"read_outputs": True}))
    assert not any(isinstance(a, CachePut) for a in asked)
    assert plan.status_patch["cacheStatus"] == cache.PUT_FAILURE


def test_a_failed_task_is_not_written_back() -> None:
    world = b.World(body(finalizers=[FIN], status=b.started_status(cacheStatus=cache.MISS)), SETTINGS)
    world.pods[world.current_pod_name()] = b.failed_pod()
    plan = world.reconcile()
    assert plan.lookup is None and b.cond_tuple(plan.status_patch, "Failed")[0] == "True"
    assert world.status["cacheStatus"] == cache.MISS


class TestSerializable:
    """cache_serializable: the key's reservation after a miss, held while the pod runs, released when it ends."""

    OWNER = "flyte/rabc123-a0"

    @staticmethod
    def template() -> tasks_pb2.TaskTemplate:
        template = cached_template()
        template.metadata.cache_serializable = True
        return template

    def reserve(self) -> CacheReserve:
        return CacheReserve(KEY, cached_template().id, self.OWNER, 10.0)

    def answers(self, holder: str = OWNER, more: dict[type, Any] | None = None) -> dict[type, Any]:
        return {ReadInputs: InputsLookup(literals=INPUTS), CacheGet: cache.CacheAnswer(cache.MISS), CacheReserve: cache.Reservation(owner=holder), **(more or {})}

    def test_a_miss_takes_the_reservation_then_runs(self) -> None:
        plan, asked = decide(body(self.template()), self.answers())
        assert asked[-1] == self.reserve() and plan.create_pod is not None

    def test_another_owner_makes_it_wait_for_the_cache(self) -> None:
        plan, _ = decide(body(self.template()), self.answers(holder="flyte/other-a0"))
        assert plan.create_pod is None
        assert plan.status_patch["pluginPhase"] == "PhaseWaitingForCache" and plan.status_patch["cacheStatus"] == cache.MISS
        assert b.cond_tuple(plan.status_patch, "Progressing") == ("True", "Queued", 'waiting for cache to be populated by reservation owner "flyte/other-a0"')
        assert plan.requeue_after == 10.0

    def test_a_hit_or_a_failed_lookup_takes_no_reservation(self) -> None:
        for got in (cache.CacheAnswer(cache.HIT), cache.CacheAnswer(cache.LOOKUP_FAILURE, "down")):
            _, asked = decide(body(self.template()), self.answers(more={CacheGet: got}))
            assert not any(isinstance(a, CacheReserve) for a in asked)

    def test_a_reservation_that_cannot_be_had_runs_the_task_with_a_warning(self) -> None:
        plan, _ = decide(body(self.template()), self.answers(more={CacheReserve: cache.Reservation(reason="cache reservation: unavailable")}))
        assert plan.create_pod is not None
        assert "CacheReservationFailed" in [e.reason for e in plan.events]

    def launched(self) -> dict[str, Any]:
        return body(self.template(), finalizers=[FIN], status=b.started_status(cacheStatus=cache.MISS))

    def test_it_is_extended_while_the_pod_runs(self) -> None:
        plan, asked = decide(self.launched(), self.answers(), b.running_pod())
        assert asked == [ReadInputs(b.INPUT_URI), self.reserve()]
        assert plan.requeue_after == 10.0

    def test_it_is_released_after_the_write_back_and_after_a_failure(self) -> None:
        release = CacheRelease(KEY, cached_template().id, self.OWNER)
        more = {CachePut: cache.CacheAnswer(cache.POPULATED), CacheRelease: ""}
        plan, asked = decide(self.launched(), self.answers(more=more), b.succeeded_pod())
        assert [type(a) for a in asked][-2:] == [CachePut, CacheRelease] and asked[-1] == release
        assert b.cond_tuple(plan.status_patch, "Succeeded")[0] == "True"
        plan, asked = decide(self.launched(), self.answers(more={CacheRelease: "releasing the cache reservation: unavailable"}), b.failed_pod())
        assert asked[-1] == release and b.cond_tuple(plan.status_patch, "Failed")[0] == "True"
        assert "CacheReservationNotReleased" in [e.reason for e in plan.events]

    def test_a_plain_cacheable_task_takes_none(self) -> None:
        _, asked = decide(body(finalizers=[FIN], status=b.started_status(cacheStatus=cache.MISS)), {}, b.running_pod())
        assert asked == []
