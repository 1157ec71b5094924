"""The hub's bookkeeping: snapshots (the parent and its direct children), changes to the right subscribers only,
nothing sent twice, deletions and vanished actions as ABORTED, traces remembered. The watch itself is exercised
against the real API server in tests/cluster/test_actions_service.py."""

from __future__ import annotations

import asyncio

import pytest
from flyteidl2.common import identifier_pb2
from flyteidl2.common import phase_pb2 as P
from flyteidl2.workflow import state_service_pb2

from taskaction_operator.actions.hub import UpdateHub

KEY = ("p", "d", "rabc", "a0")


def cond(type_: str, status: str, reason: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}


def obj(action: str, parent: str | None, reason: str = "Queued", run: str = "rabc") -> dict:
    spec = {"runName": run, "project": "p", "domain": "d", "actionName": action, "runOutputBase": "s3://b/"}
    if parent:
        spec["parentActionName"] = parent
    return {"metadata": {"name": f"{run}-{action}", "namespace": "flyte"}, "spec": spec, "status": {"conditions": [cond("Progressing", "True", reason)]}}


@pytest.fixture
def hub() -> UpdateHub:
    return UpdateHub(api=None, namespace="flyte")  # type: ignore[arg-type]  # the API is only used by run()


async def take(stream, count: int) -> list:
    return [await asyncio.wait_for(anext(stream), 1) for _ in range(count)]


async def test_snapshot_then_sentinel_then_changes(hub: UpdateHub) -> None:
    hub.observe(obj("a0", None, "Executing"))
    hub.observe(obj("n1", "a0"))
    hub.observe(obj("g1", "n1"))  # a grandchild: not a0's business
    hub.observe(obj("x1", "a0", run="rother"))  # another run
    stream = hub.subscribe(KEY)
    first = await take(stream, 3)
    assert [u.action_id.name for u in first[:2]] == ["a0", "n1"] and first[2] is None
    hub.observe(obj("n1", "a0", "Executing"))
    hub.observe(obj("n1", "a0", "Executing"))  # same update: not sent again
    hub.observe(obj("g1", "n1", "Executing"))
    hub.observe(obj("n2", "a0"))
    changes = await take(stream, 2)
    assert [(u.action_id.name, u.phase) for u in changes] == [("n1", P.ACTION_PHASE_RUNNING), ("n2", P.ACTION_PHASE_QUEUED)]
    await stream.aclose()
    assert hub.subscriber_count == 0


async def test_deleted_and_vanished_children_are_aborted(hub: UpdateHub) -> None:
    hub.observe(obj("n1", "a0", "Executing"))
    hub.observe(obj("n2", "a0", "Executing"))
    stream = hub.subscribe(KEY)
    await take(stream, 3)
    hub.observe(obj("n1", "a0", "Executing"), deleted=True)
    hub.forget("rabc-n2")
    changes = await take(stream, 2)
    assert [(u.action_id.name, u.phase) for u in changes] == [("n1", P.ACTION_PHASE_ABORTED), ("n2", P.ACTION_PHASE_ABORTED)]
    assert hub.snapshot(KEY) == []
    await stream.aclose()


async def test_every_subscriber_gets_every_change(hub: UpdateHub) -> None:
    streams = [hub.subscribe(KEY) for _ in range(2)]
    for stream in streams:
        assert await take(stream, 1) == [None]
    for reason in ("Initializing", "Executing"):
        hub.observe(obj("n1", "a0", reason))
    for stream in streams:
        assert [u.phase for u in await take(stream, 2)] == [P.ACTION_PHASE_INITIALIZING, P.ACTION_PHASE_RUNNING]
        await stream.aclose()


async def test_traces_are_sent_and_remembered(hub: UpdateHub) -> None:
    stream = hub.subscribe(KEY)
    await take(stream, 1)
    trace = state_service_pb2.ActionUpdate(
        action_id=identifier_pb2.ActionIdentifier(run=identifier_pb2.RunIdentifier(project="p", domain="d", name="rabc"), name="t1"),
        phase=P.ACTION_PHASE_SUCCEEDED, output_uri="s3://b/t1",
    )
    hub.record_trace(KEY, trace)
    assert await take(stream, 1) == [trace]
    await stream.aclose()
    assert hub.snapshot(KEY) == [trace]


async def test_a_new_listing_sends_what_changed_meanwhile(hub: UpdateHub) -> None:
    hub.observe_listing([obj("a0", None, "Executing"), obj("n1", "a0", "Executing"), obj("n2", "a0", "Executing")])
    stream = hub.subscribe(KEY)
    await take(stream, 4)
    # The watch broke; meanwhile n1 finished, n2 was deleted and n3 appeared.
    done = obj("n1", "a0")
    done["status"]["conditions"] = [cond("Progressing", "False", "Completed"), cond("Succeeded", "True", "Completed")]
    hub.observe_listing([obj("a0", None, "Executing"), done, obj("n3", "a0")])
    changes = await take(stream, 3)
    assert sorted((u.action_id.name, u.phase) for u in changes) == [
        ("n1", P.ACTION_PHASE_SUCCEEDED), ("n2", P.ACTION_PHASE_ABORTED), ("n3", P.ACTION_PHASE_QUEUED)
    ]
    assert [u.action_id.name for u in hub.snapshot(KEY)] == ["a0", "n1", "n3"]
    await stream.aclose()


def test_a_parent_is_known_without_asking_the_api_server(hub: UpdateHub) -> None:
    root = obj("a0", None)
    root["metadata"].update(uid="u-a0", labels={"team": "ml"}, annotations={"note": "x"}, resourceVersion="7")
    root["spec"].update(envVars={"A": "1"}, interruptible=True, taskTemplate="AAAA")
    hub.observe(root)
    assert hub.parent("rabc-a0") == {
        "metadata": {"name": "rabc-a0", "namespace": "flyte", "uid": "u-a0", "labels": {"team": "ml"}, "annotations": {"note": "x"}},
        "spec": {"runName": "rabc", "project": "p", "domain": "d", "actionName": "a0", "envVars": {"A": "1"}, "interruptible": True},
    }
    hub.observe(root, deleted=True)
    assert hub.parent("rabc-a0") is None


async def test_a_taskaction_it_cannot_read_never_stops_the_others(hub: UpdateHub) -> None:
    """An output base without a URL scheme raised inside the shared watch, which then listed again for ever and every
    parent hung. Now such an action is told without an output location, and anything worse is left out."""
    no_scheme = obj("n1", "a0")
    no_scheme["spec"]["runOutputBase"] = "bucket/path"
    broken = {"metadata": {"name": "rabc-n2", "namespace": "flyte"}, "spec": {"parentActionName": "a0"}, "status": {"conditions": "?"}}
    hub.observe_listing([obj("a0", None, "Executing"), no_scheme, broken, obj("n3", "a0")])
    stream = hub.subscribe(KEY)
    updates = await take(stream, 4)
    assert [u.action_id.name for u in updates[:3]] == ["a0", "n1", "n3"] and updates[3] is None
    assert updates[1].output_uri == ""
    await stream.aclose()
