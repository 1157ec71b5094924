"""What a parent's `WatchForUpdates` stream carries for a TaskAction (buildActionUpdate; docs/upstream-contract.md,
"The watch"). Pure.

- `action_id` without org (the TaskAction has none), `phase` from the conditions (GetPhaseFromConditions), forced to
  ABORTED when a TaskAction that was not terminal is deleted;
- `output_uri`: BuildOutputUri, the directory of outputs.pb of the current attempt;
- `error`: only when FAILED and `status.errorState` is set; `value`: a condition's signalled literal.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import urlsplit

from flyteidl2.actions import actions_service_pb2
from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.core import execution_pb2, literals_pb2
from flyteidl2.workflow import state_service_pb2
from google.protobuf.message import DecodeError

from ..client import action_io, action_phase

ERROR_KINDS = {"USER": execution_pb2.ExecutionError.USER, "SYSTEM": execution_pb2.ExecutionError.SYSTEM}


def action_id(spec: dict[str, Any]) -> identifier_pb2.ActionIdentifier:
    return identifier_pb2.ActionIdentifier(
        run=identifier_pb2.RunIdentifier(project=spec.get("project", ""), domain=spec.get("domain", ""), name=spec.get("runName", "")),
        name=spec.get("actionName", ""),
    )


def execution_error(error_state: dict[str, Any]) -> execution_pb2.ExecutionError:
    return execution_pb2.ExecutionError(
        code=error_state.get("code") or "",
        message=error_state.get("message") or "",
        kind=ERROR_KINDS.get(error_state.get("kind") or "", execution_pb2.ExecutionError.UNKNOWN),
    )


def signal_value(encoded: str | None) -> literals_pb2.Literal | None:
    if not encoded:
        return None
    try:
        return literals_pb2.Literal.FromString(base64.b64decode(encoded))
    except (binascii.Error, ValueError, DecodeError):
        return None  # the operator fails such a condition; nothing to pass on


def action_update(taskaction: dict[str, Any], *, deleted: bool = False) -> state_service_pb2.ActionUpdate:
    spec = taskaction.get("spec") or {}
    status = taskaction.get("status") or {}
    phase = action_phase.phase_of(taskaction)
    update = state_service_pb2.ActionUpdate(action_id=action_id(spec), phase=phase)
    if urlsplit(spec.get("runOutputBase") or "").scheme:  # else no output location, as upstream's nil outputs
        update.output_uri = action_io.output_uri(taskaction)
    if phase == phase_pb2.ACTION_PHASE_FAILED and status.get("errorState"):
        update.error.CopyFrom(execution_error(status["errorState"]))
    value = signal_value(status.get("signalValue"))
    if value is not None:
        update.value.CopyFrom(value)
    return as_deleted(update) if deleted else update


def as_deleted(update: state_service_pb2.ActionUpdate) -> state_service_pb2.ActionUpdate:
    """What a parent is told of a child deleted (or gone) before it ended: ABORTED."""
    if action_phase.is_terminal(update.phase):
        return update
    aborted = state_service_pb2.ActionUpdate()
    aborted.CopyFrom(update)
    aborted.phase = phase_pb2.ACTION_PHASE_ABORTED
    return aborted


def trace_update(action: actions_service_pb2.Action) -> state_service_pb2.ActionUpdate:
    """A trace has no TaskAction: its parent is told at once that it SUCCEEDED, with the trace's outputs."""
    return state_service_pb2.ActionUpdate(
        action_id=action.action_id, phase=phase_pb2.ACTION_PHASE_SUCCEEDED, output_uri=action.trace.outputs.output_uri
    )


def update_response(update: state_service_pb2.ActionUpdate) -> actions_service_pb2.WatchForUpdatesResponse:
    return actions_service_pb2.WatchForUpdatesResponse(action_update=update)


SENTINEL = actions_service_pb2.WatchForUpdatesResponse(control_message=state_service_pb2.ControlMessage(sentinel=True))
