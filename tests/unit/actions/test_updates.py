"""buildActionUpdate: what a parent's watch receives for a TaskAction (docs/upstream-contract.md, "The watch")."""

from __future__ import annotations

import base64

from flyteidl2.common import phase_pb2 as P
from flyteidl2.core import execution_pb2, literals_pb2

from taskaction_operator.actions import updates
from taskaction_operator.storage import paths


def cond(type_: str, status: str, reason: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}


def taskaction(conditions: list[dict], **status) -> dict:
    return {
        "metadata": {"name": "rabc-n1", "namespace": "flyte"},
        "spec": {"runName": "rabc", "project": "p", "domain": "d", "actionName": "n1", "parentActionName": "a0", "runOutputBase": "s3://b/p/d/rabc/"},
        "status": {"conditions": conditions, **status},
    }


def test_running_child() -> None:
    update = updates.action_update(taskaction([cond("Progressing", "True", "Executing")], attempts=2))
    assert update.phase == P.ACTION_PHASE_RUNNING
    assert (update.action_id.run.project, update.action_id.run.domain, update.action_id.run.name, update.action_id.name) == ("p", "d", "rabc", "n1")
    assert update.action_id.run.org == ""
    assert update.output_uri == paths.action_output_prefix("flyte", "rabc-n1", "s3://b/p/d/rabc/", "n1", 2)
    assert not update.HasField("error") and not update.HasField("value")


def test_failed_carries_the_error() -> None:
    obj = taskaction(
        [cond("Progressing", "False", "PermanentFailure"), cond("Failed", "True", "PermanentFailure")],
        errorState={"code": "OOMKilled", "kind": "USER", "message": "out of memory"},
    )
    update = updates.action_update(obj)
    assert update.phase == P.ACTION_PHASE_FAILED
    assert update.error == execution_pb2.ExecutionError(code="OOMKilled", kind=execution_pb2.ExecutionError.USER, message="out of memory")


def test_error_only_when_failed() -> None:
    obj = taskaction([cond("Progressing", "True", "RetryableFailure")], errorState={"code": "X", "kind": "SYSTEM", "message": "m"})
    assert not updates.action_update(obj).HasField("error")


def test_unknown_error_kind() -> None:
    obj = taskaction([cond("Failed", "True", "PermanentFailure")], errorState={"code": "X", "message": "m"})
    assert updates.action_update(obj).error.kind == execution_pb2.ExecutionError.UNKNOWN


def test_deleted_while_running_is_aborted_but_a_finished_one_keeps_its_phase() -> None:
    running = taskaction([cond("Progressing", "True", "Executing")])
    done = taskaction([cond("Progressing", "False", "Completed"), cond("Succeeded", "True", "Completed")])
    assert updates.action_update(running, deleted=True).phase == P.ACTION_PHASE_ABORTED
    assert updates.action_update(done, deleted=True).phase == P.ACTION_PHASE_SUCCEEDED


def test_signalled_condition_value() -> None:
    literal = literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(boolean=True)))
    obj = taskaction([cond("Succeeded", "True", "Signaled")], signalValue=base64.b64encode(literal.SerializeToString()).decode())
    del obj["spec"]["runOutputBase"]
    update = updates.action_update(obj)
    assert update.value == literal and update.output_uri == ""
    obj["status"]["signalValue"] = "not base64!"
    assert not updates.action_update(obj).HasField("value")
