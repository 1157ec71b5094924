"""The ActionPhase of a TaskAction, read from its conditions as the Flyte actions service reads it
(flyteorg/flyte actions/k8s/client.go GetPhaseFromConditions)."""

from __future__ import annotations

from typing import Any

from flyteidl2.common import phase_pb2

from ..api import constants as c

Phase = int  # a flyteidl2.common.phase_pb2.ActionPhase value

TERMINAL_PHASES = frozenset(
    {
        phase_pb2.ACTION_PHASE_SUCCEEDED,
        phase_pb2.ACTION_PHASE_FAILED,
        phase_pb2.ACTION_PHASE_ABORTED,
        phase_pb2.ACTION_PHASE_TIMED_OUT,
        phase_pb2.ACTION_PHASE_RECOVERED,
    }
)

_PROGRESSING_PHASES = {
    c.REASON_QUEUED: phase_pb2.ACTION_PHASE_QUEUED,
    c.REASON_INITIALIZING: phase_pb2.ACTION_PHASE_INITIALIZING,
    c.REASON_EXECUTING: phase_pb2.ACTION_PHASE_RUNNING,
    c.REASON_PAUSED: phase_pb2.ACTION_PHASE_PAUSED,
}


def phase_of(taskaction: dict[str, Any] | None) -> Phase:
    """GetPhaseFromConditions: the first condition in list order that says something."""
    for cond in ((taskaction or {}).get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        kind, reason = cond.get("type"), cond.get("reason")
        if kind == c.CONDITION_SUCCEEDED:
            return phase_pb2.ACTION_PHASE_SUCCEEDED
        if kind == c.CONDITION_FAILED:
            return phase_pb2.ACTION_PHASE_TIMED_OUT if reason == c.REASON_TIMED_OUT else phase_pb2.ACTION_PHASE_FAILED
        if kind == c.CONDITION_PROGRESSING:
            return _PROGRESSING_PHASES.get(reason, phase_pb2.ACTION_PHASE_UNSPECIFIED)
    return phase_pb2.ACTION_PHASE_UNSPECIFIED


def phase_name(phase: Phase) -> str:
    """`SUCCEEDED` for ACTION_PHASE_SUCCEEDED."""
    return phase_pb2.ActionPhase.Name(phase).removeprefix("ACTION_PHASE_")


def is_terminal(phase: Phase) -> bool:
    return phase in TERMINAL_PHASES
