"""The service's bookkeeping that needs no cluster: calls counted by method and Connect code, Update refused, every
RPC stopped by its gate before anything else, asking for the verb the RPC stands for."""

from __future__ import annotations

import pytest
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.actions import actions_service_pb2 as pb
from flyteidl2.common import identifier_pb2
from prometheus_client import REGISTRY

from taskaction_operator.actions.access import Access
from taskaction_operator.actions.hub import UpdateHub
from taskaction_operator.actions.service import ActionsService


def calls(method: str, code: str) -> float:
    return REGISTRY.get_sample_value("taskaction_actions_service_requests_total", {"method": method, "code": code}) or 0.0


@pytest.fixture
def service() -> ActionsService:
    return ActionsService(api=None, namespace="flyte", hub=UpdateHub(api=None, namespace="flyte"))  # type: ignore[arg-type]


async def test_update_is_unimplemented_and_counted(service: ActionsService) -> None:
    before = calls("Update", "unimplemented")
    with pytest.raises(ConnectError) as refused:
        await service.update(pb.UpdateRequest(), None)  # type: ignore[arg-type]
    assert refused.value.code == Code.UNIMPLEMENTED and "attempts" in refused.value.message
    assert calls("Update", "unimplemented") == before + 1


async def test_invalid_enqueue_is_counted_before_any_api_call(service: ActionsService) -> None:
    before = calls("Enqueue", "invalid_argument")
    with pytest.raises(ConnectError) as refused:
        await service.enqueue(pb.EnqueueRequest(action=pb.Action()), None)  # type: ignore[arg-type]
    assert refused.value.code == Code.INVALID_ARGUMENT and "no spec" in refused.value.message
    assert calls("Enqueue", "invalid_argument") == before + 1


class Refusing:
    """A gate that refuses every call, remembering what each asked for."""

    def __init__(self) -> None:
        self.asked: list[Access] = []

    async def check(self, ctx: object, access: Access) -> None:
        self.asked.append(access)
        raise ConnectError(Code.PERMISSION_DENIED, "no")


def action_id(name: str = "n1") -> identifier_pb2.ActionIdentifier:
    return identifier_pb2.ActionIdentifier(run=identifier_pb2.RunIdentifier(project="p", domain="d", name="r1"), name=name)


async def test_every_rpc_asks_the_gate_first_for_its_verb_and_counts_the_refusal() -> None:
    gate = Refusing()
    service = ActionsService(api=None, namespace="flyte", hub=UpdateHub(api=None, namespace="flyte"), gate=gate)  # type: ignore[arg-type]
    calls = [
        service.enqueue(pb.EnqueueRequest(action=pb.Action(action_id=action_id(), parent_action_name="a0")), None),
        service.abort(pb.AbortRequest(action_id=action_id()), None),
        service.signal(pb.SignalRequest(action_id=action_id()), None),
        service.update(pb.UpdateRequest(action_id=action_id()), None),
        anext(service.watch_for_updates(pb.WatchForUpdatesRequest(parent_action_id=action_id("a0")), None)),
    ]
    before = [calls_of(method) for method in ("Enqueue", "Abort", "Signal", "Update", "WatchForUpdates")]
    for call in calls:
        with pytest.raises(ConnectError) as refused:
            await call  # type: ignore[misc]
        assert refused.value.code == Code.PERMISSION_DENIED
    assert [(a.rpc, a.verb, a.run_key, a.action, a.parent) for a in gate.asked] == [
        ("Enqueue", "create", ("p", "d", "r1"), "n1", "a0"),
        ("Abort", "delete", ("p", "d", "r1"), "n1", None),
        ("Signal", "patch", ("p", "d", "r1"), "n1", None),
        ("Update", "patch", ("p", "d", "r1"), "n1", None),
        ("WatchForUpdates", "watch", ("p", "d", "r1"), "a0", None),
    ]
    after = [calls_of(method) for method in ("Enqueue", "Abort", "Signal", "Update", "WatchForUpdates")]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1, 1]


def calls_of(method: str) -> float:
    return calls(method, "permission_denied")
