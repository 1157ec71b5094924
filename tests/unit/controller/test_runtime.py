"""The Controller's watch-event handling and its stores: what they keep, and that a GET's answer (against a loopback
API server) never rolls back what a watch event stored while the GET was in flight."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from taskaction_operator.controller.runtime import Controller
from taskaction_operator.kube import KubeApi
from taskaction_operator.kube.transport import Transport
from taskaction_operator.settings import Settings

from taskaction_operator.reconcile.plan import Plan

from ..builders import NAMESPACE, ROOT_NAME, spec, started_status, succeeded_pod, taskaction
from ..kube.loopback import serving

TERMINAL_LABELS = {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.11-00"}


def finished_action() -> dict[str, Any]:
    return taskaction(labels=TERMINAL_LABELS, status={**started_status(), "pluginPhase": "PhaseSuccess"}, resource_version="1001")


def controller() -> Controller:
    return Controller(None, Settings(read_outputs=False))  # type: ignore[arg-type]  # the handlers call no API


def test_the_pod_of_an_action_that_finishes_is_kept_settled() -> None:
    ctl = controller()
    ctl.on_taskaction_event(None, taskaction(status=started_status()))
    ctl.on_pod_event("MODIFIED", succeeded_pod())
    pod_key = (NAMESPACE, ROOT_NAME + "-0")
    assert "containerStatuses" in ctl.pods.get(pod_key)["status"], "its owner still decides with it"
    ctl.on_taskaction_event("MODIFIED", finished_action())
    assert ctl.pods.get(pod_key)["status"] == {"phase": "Succeeded"}


def test_a_pod_seen_after_its_action_finished_is_stored_settled() -> None:
    ctl = controller()
    ctl.on_taskaction_event(None, finished_action())
    ctl.on_pod_event(None, succeeded_pod())
    assert ctl.pods.get((NAMESPACE, ROOT_NAME + "-0"))["status"] == {"phase": "Succeeded"}


CHILD = "rabc123-child"
NOT_FOUND = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": "not found"}


@asynccontextmanager
async def controller_with_api(on_get: Callable[[Controller], None]) -> AsyncIterator[Controller]:
    """A Controller whose API server answers every GET of a TaskAction 404, after `on_get(controller)` ran: what the
    controller handles while its request is in flight."""
    holder: list[Controller] = []

    async def get(request: web.Request) -> web.Response:
        on_get(holder[0])
        return web.json_response(NOT_FOUND, status=404)

    async with serving({"/apis/flyte.org/v1/namespaces/{namespace}/taskactions/{name}": get}) as url:
        api = KubeApi(Transport(url), qps=100, burst=10, max_inflight=4)
        holder.append(Controller(api, Settings()))
        try:
            yield holder[0]
        finally:
            await api.close()


async def test_a_parent_created_while_its_get_is_in_flight_stays_stored_and_queued() -> None:
    """A parent cycle of two created together: the child asks for its parent, the server answers 404 (not created
    yet), and the parent's ADDED event is handled before that answer. The parent must stay in the store, or its own
    reconcile finds nothing and it is never decided."""
    parent = taskaction(name=ROOT_NAME, resource_version="7")
    child = taskaction(name=CHILD, spec_=spec(actionName="child", parentActionName="a0"))

    async with controller_with_api(lambda controller: controller.on_taskaction_event("ADDED", parent)) as controller:
        controller.on_taskaction_event("ADDED", child)
        assert await controller._parent(controller.taskactions.get((NAMESPACE, CHILD))) is None  # what the server said

        assert controller.taskactions.get((NAMESPACE, ROOT_NAME)) is not None
        queued = {await controller.queue.get() for _ in range(len(controller.queue))}
        assert queued == {(NAMESPACE, CHILD), (NAMESPACE, ROOT_NAME)}


async def test_a_parent_the_server_says_is_gone_is_forgotten() -> None:
    parent = taskaction(name=ROOT_NAME, resource_version="7", deleting=True)
    child = taskaction(name=CHILD, spec_=spec(actionName="child", parentActionName="a0"))

    async with controller_with_api(lambda controller: None) as controller:
        controller.on_taskaction_event("MODIFIED", parent)
        controller.on_taskaction_event("ADDED", child)
        assert await controller._parent(controller.taskactions.get((NAMESPACE, CHILD))) is None

        assert controller.taskactions.get((NAMESPACE, ROOT_NAME)) is None


async def test_the_echo_of_the_terminal_labels_alone_is_not_news() -> None:
    """A finished action that holds no finalizer gets its terminal labels in an unguarded write. Its watch event, here
    delivered before the write's answer, is that write's echo: no reconcile is queued for it."""
    finished = taskaction(status={**started_status(), "pluginPhase": "PhaseSuccess"}, resource_version="1001")
    labelled = finished_action() | {"metadata": {**finished_action()["metadata"], "resourceVersion": "1002"}}
    holder: list[Controller] = []

    async def patch(request: web.Request) -> web.Response:
        holder[0].on_taskaction_event("MODIFIED", labelled)
        return web.json_response(labelled)

    async with serving({}, patches={"/apis/flyte.org/v1/namespaces/{namespace}/taskactions/{name}": patch}) as url:
        api = KubeApi(Transport(url), qps=100, burst=10, max_inflight=4)
        holder.append(Controller(api, Settings(read_outputs=False)))
        try:
            ctl = holder[0]
            ctl.on_taskaction_event("MODIFIED", finished)
            key = await ctl.queue.get()
            assert await ctl.apply(finished, Plan(terminal_labels=TERMINAL_LABELS)) is None
            ctl.queue.done(key)
            assert ctl.taskactions.get((NAMESPACE, ROOT_NAME))["metadata"]["labels"] == TERMINAL_LABELS
            assert len(ctl.queue) == 0
        finally:
            await api.close()


def test_the_phase_gauge_counts_what_is_stored_without_decoding_it() -> None:
    ctl = controller()
    ctl.on_taskaction_event(None, taskaction(status=started_status()))
    ctl.on_taskaction_event(None, taskaction(name=CHILD, spec_=spec(actionName="child", parentActionName="a0")))
    assert ctl.phase_counts() == {started_status()["pluginPhase"]: 1, "Unknown": 1}
    ctl.on_taskaction_event("MODIFIED", finished_action())
    assert ctl.phase_counts() == {"PhaseSuccess": 1, "Unknown": 1}


def test_a_loop_in_the_lineage_ends_the_walk_up_at_its_first_repeat() -> None:
    """Each get decodes a new copy: the walk knows a repeat by its name."""
    ctl = controller()
    ctl.on_taskaction_event(None, taskaction(name="rabc123-b", spec_=spec(actionName="b", parentActionName="c")))
    ctl.on_taskaction_event(None, taskaction(name="rabc123-c", spec_=spec(actionName="c", parentActionName="b")))
    parent = ctl.taskactions.get((NAMESPACE, "rabc123-b"))
    assert [a["metadata"]["name"] for a in ctl._ancestors(parent)] == ["rabc123-c", "rabc123-b", "rabc123-c"]
