"""The service's bookkeeping that needs no cluster: calls counted by method and Connect code, Update refused."""

from __future__ import annotations

import pytest
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.actions import actions_service_pb2 as pb
from prometheus_client import REGISTRY

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
