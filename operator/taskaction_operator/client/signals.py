"""Signalling a condition action (human in the loop), as flyteorg/flyte actions/k8s/client.go ActionsClient.Signal
does: its checks in its order (`check_signal`), then status.signalValue / signalledBy / signalledAt written through the
status subresource (`signal`). `parse_signal_value` reads a command-line value as the condition's declared type."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from flyteidl2.core import literals_pb2, types_pb2
from flyteidl2.workflow import run_definition_pb2

from ..api import constants as c
from ..api.times import rfc3339, utcnow
from ..kube import ApiError, KubeApi
from .action_phase import is_terminal, phase_name, phase_of
from .errors import InvalidSignal, NotFound, SignalRefused
from .literals import SIGNALLABLE_FIELDS, from_literal, primitive_kind, to_literal


def condition_spec(taskaction: dict[str, Any]) -> run_definition_pb2.ConditionAction:
    spec = taskaction.get("spec") or {}
    if spec.get("actionType") != c.ACTION_TYPE_CONDITION:
        raise SignalRefused(f"TaskAction {taskaction['metadata']['name']} is not a condition action")
    try:
        return run_definition_pb2.ConditionAction.FromString(base64.b64decode(spec.get("conditionSpec") or ""))
    except Exception as exc:  # malformed bytes: the operator fails it with InvalidSpec
        raise SignalRefused(f"TaskAction {taskaction['metadata']['name']}: conditionSpec does not decode: {exc}") from exc


def parse_signal_value(text: str, simple_type: int) -> literals_pb2.Literal:
    """A command-line value as the condition's declared type."""
    if simple_type == types_pb2.BOOLEAN:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1", "y"):
            return to_literal(True)
        if lowered in ("false", "no", "0", "n"):
            return to_literal(False)
        raise SignalRefused(f"{text!r} is not a boolean (true/false)")
    try:
        if simple_type == types_pb2.INTEGER:
            return to_literal(int(text))
        if simple_type == types_pb2.FLOAT:
            return to_literal(float(text))
    except ValueError as exc:
        raise SignalRefused(f"{text!r} is not a{'n integer' if simple_type == types_pb2.INTEGER else ' float'}") from exc
    if simple_type == types_pb2.STRING:
        return to_literal(text)
    raise SignalRefused(f"the condition declares type {types_pb2.SimpleType.Name(simple_type)}, which cannot be signalled")


def check_signal(taskaction: dict[str, Any], literal: literals_pb2.Literal) -> bool:
    """Signal's checks, in its order. True when the same value was already signalled (nothing to write)."""
    name = taskaction["metadata"]["name"]
    kind = primitive_kind(literal)
    if kind not in SIGNALLABLE_FIELDS.values():
        raise InvalidSignal("the signal value must be a bool, int, float or string primitive literal")
    spec = condition_spec(taskaction)
    status = taskaction.get("status") or {}
    existing = status.get("signalValue")
    if existing:
        if base64.b64decode(existing) == literal.SerializeToString(deterministic=True):
            return True
        previous = literals_pb2.Literal.FromString(base64.b64decode(existing))
        raise SignalRefused(
            f"condition {name} was already signalled with {from_literal(previous)!r}"
            f" by {status.get('signalledBy') or 'someone'}; a different value is refused"
        )
    phase = phase_of(taskaction)
    if is_terminal(phase):
        raise SignalRefused(f"condition {name} is already {phase_name(phase)}")
    declared = spec.type.simple
    if SIGNALLABLE_FIELDS.get(declared) != kind:
        raise InvalidSignal(
            f"condition {name} expects a {types_pb2.SimpleType.Name(declared)}, not a {kind.replace('_value', '')}"
        )
    return False


async def signal(
    api: KubeApi, name: str, value: Any, by: str, namespace: str = "flyte", *, retries: int = 5
) -> dict[str, Any]:
    """Write status.signalValue / signalledBy / signalledAt of the condition TaskAction `name` (status subresource,
    guarded by resourceVersion, retried on conflict). The operator then marks it Succeeded."""
    literal = to_literal(value)
    for attempt in range(retries + 1):
        taskaction = await api.get_taskaction(namespace, name)
        if taskaction is None:
            raise NotFound(f"TaskAction {namespace}/{name} does not exist")
        if check_signal(taskaction, literal):
            return taskaction
        patch = {
            "metadata": {"resourceVersion": taskaction["metadata"]["resourceVersion"]},
            "status": {
                "signalValue": base64.b64encode(literal.SerializeToString(deterministic=True)).decode(),
                "signalledBy": by,
                "signalledAt": rfc3339(utcnow()),
            },
        }
        try:
            return await api.patch_taskaction_status(namespace, name, patch)
        except ApiError as exc:
            if exc.status != 409 or attempt == retries:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
