"""Condition (human-in-the-loop) actions on the real control plane: no pod, Paused until signalled or timed out."""

from __future__ import annotations

import base64
import json

from flyteidl2.core import literals_pb2, types_pb2
from flyteidl2.workflow import run_definition_pb2
from google.protobuf import duration_pb2

from taskaction_operator.api import constants as c
from tests.support.kube import Kube, condition, is_true, progressing_reason


def condition_action(namespace: str, run: str, timeout_seconds: int = 0) -> dict:
    spec = run_definition_pb2.ConditionAction(name="approve", type=types_pb2.LiteralType(simple=types_pb2.BOOLEAN))
    if timeout_seconds:
        spec.timeout.CopyFrom(duration_pb2.Duration(seconds=timeout_seconds))
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": {"name": f"{run}-approve", "namespace": namespace},
        "spec": {
            "runName": run,
            "project": "demo",
            "domain": "development",
            "actionName": "approve",
            "actionType": "condition",
            "conditionSpec": base64.b64encode(spec.SerializeToString()).decode(),
        },
    }


def test_paused_until_signalled(kube: Kube, operator, namespace: str) -> None:
    kube.create(condition_action(namespace, "hitl"))
    ta = kube.wait("taskaction", "hitl-approve", namespace, lambda o: progressing_reason(o) == "Paused", "Paused")
    assert c.FINALIZER not in ta["metadata"].get("finalizers", [])
    assert kube.list("pods", namespace, "run=hitl") == []
    value = base64.b64encode(literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(boolean=True))).SerializeToString()).decode()
    patch = {"status": {"signalValue": value, "signalledBy": "alice@example.com", "signalledAt": "2026-11-23T12:00:00Z"}}
    kube.run("patch", "taskaction", "hitl-approve", "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(patch))
    ta = kube.wait("taskaction", "hitl-approve", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    assert condition(ta, "Succeeded")["message"] == 'condition signalled by "alice@example.com"'
    assert ta["status"]["signalValue"] == value  # the operator never overwrites the signal
    assert [h["phase"] for h in ta["status"]["phaseHistory"]] == ["Paused", "Signaled"]


def test_times_out_without_a_signal(kube: Kube, operator, namespace: str) -> None:
    kube.create(condition_action(namespace, "late", timeout_seconds=2))
    ta = kube.wait("taskaction", "late-approve", namespace, lambda o: is_true(o, "Failed"), "Failed")
    assert condition(ta, "Failed")["reason"] == "TimedOut"
    assert ta["status"]["errorState"]["code"] == "ConditionTimedOut"
