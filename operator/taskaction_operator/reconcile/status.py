"""Status bookkeeping shared by task and condition actions: conditions, phase history, terminal labels.

Works on plain JSON-shaped dicts (the `status` as the API server holds it) so that the result can be compared
with what is stored and sent as a patch unchanged.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .. import redact
from ..api import constants as c
from ..api.json_values import json_copy
from ..api.phase import ExecError, Phase, PhaseInfo
from ..api.times import completed_time_label, parse_time, rfc3339


def find_condition(status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return cond
    return None


def is_true(status: dict[str, Any], type_: str) -> bool:
    cond = find_condition(status, type_)
    return bool(cond and cond.get("status") == "True")


def progressing_reason(status: dict[str, Any]) -> str | None:
    cond = find_condition(status, c.CONDITION_PROGRESSING)
    return cond.get("reason") if cond else None


def progressing_message(status: dict[str, Any]) -> str:
    cond = find_condition(status, c.CONDITION_PROGRESSING)
    return (cond.get("message") or "") if cond else ""


def is_terminal(status: dict[str, Any]) -> bool:
    return is_true(status, c.CONDITION_SUCCEEDED) or is_true(status, c.CONDITION_FAILED)


def set_condition(status: dict[str, Any], type_: str, cond_status: str, reason: str, message: str, now: datetime) -> None:
    """meta.SetStatusCondition: lastTransitionTime moves only when the status flips."""
    conditions = status.setdefault("conditions", [])
    message = message[:32768]
    for cond in conditions:
        if cond.get("type") == type_:
            if cond.get("status") != cond_status:
                cond["lastTransitionTime"] = rfc3339(now)
            cond.update(status=cond_status, reason=reason, message=message)
            return
    conditions.append(
        {"type": type_, "status": cond_status, "reason": reason, "message": message, "lastTransitionTime": rfc3339(now)}
    )


def append_phase_history(status: dict[str, Any], phase: str, message: str, now: datetime) -> None:
    """Append-only; an entry with the same phase as the last one is skipped."""
    history = status.setdefault("phaseHistory", [])
    if history and history[-1].get("phase") == phase:
        return
    entry: dict[str, Any] = {"phase": phase, "occurredAt": rfc3339(now)}
    if message:
        entry["message"] = message
    history.append(entry)


def error_state(error: ExecError) -> dict[str, str]:
    kind = error.kind if error.kind in (c.KIND_USER, c.KIND_SYSTEM) else ""
    return {"code": error.code, "kind": kind, "message": error.message}


def map_phase_to_conditions(status: dict[str, Any], info: PhaseInfo, now: datetime) -> None:
    """mapPhaseToConditions of the Go reconciler."""
    phase = info.phase
    if phase in (Phase.NOT_READY, Phase.QUEUED, Phase.WAITING_FOR_RESOURCES, Phase.WAITING_FOR_CACHE):
        set_condition(status, c.CONDITION_PROGRESSING, "True", c.REASON_QUEUED, info.reason, now)
        append_phase_history(status, c.REASON_QUEUED, info.reason, now)
    elif phase is Phase.INITIALIZING:
        set_condition(status, c.CONDITION_PROGRESSING, "True", c.REASON_INITIALIZING, info.reason, now)
        append_phase_history(status, c.REASON_INITIALIZING, info.reason, now)
    elif phase is Phase.RUNNING:
        set_condition(status, c.CONDITION_PROGRESSING, "True", c.REASON_EXECUTING, info.reason, now)
        append_phase_history(status, c.REASON_EXECUTING, info.reason, now)
    elif phase is Phase.SUCCESS:
        set_condition(status, c.CONDITION_PROGRESSING, "False", c.REASON_COMPLETED, "TaskAction has completed", now)
        set_condition(status, c.CONDITION_SUCCEEDED, "True", c.REASON_COMPLETED, "TaskAction completed successfully", now)
        append_phase_history(status, c.REASON_COMPLETED, "TaskAction completed successfully", now)
    elif phase is Phase.PERMANENT_FAILURE:
        message = info.error.message if info.error else info.reason
        set_condition(status, c.CONDITION_PROGRESSING, "False", c.REASON_PERMANENT_FAILURE, message, now)
        set_condition(status, c.CONDITION_FAILED, "True", c.REASON_PERMANENT_FAILURE, message, now)
        append_phase_history(status, c.REASON_PERMANENT_FAILURE, message, now)
        if info.error:
            status["errorState"] = error_state(info.error)
    elif phase is Phase.RETRYABLE_FAILURE:
        message = info.error.message if info.error else info.reason
        set_condition(status, c.CONDITION_PROGRESSING, "True", c.REASON_RETRYABLE_FAILURE, message, now)
        append_phase_history(status, c.REASON_RETRYABLE_FAILURE, message, now)
        if info.error:
            status["errorState"] = error_state(info.error)
    elif phase is Phase.ABORTED:
        set_condition(status, c.CONDITION_PROGRESSING, "False", c.REASON_ABORTED, "TaskAction was aborted", now)
        set_condition(status, c.CONDITION_FAILED, "True", c.REASON_ABORTED, "TaskAction was aborted", now)
        append_phase_history(status, c.REASON_ABORTED, "TaskAction was aborted", now)


def fail_terminally(status: dict[str, Any], reason: str, error: ExecError, now: datetime) -> None:
    """Failed=True and Progressing=False with one reason (InvalidSpec, TimedOut...)."""
    set_condition(status, c.CONDITION_PROGRESSING, "False", reason, error.message, now)
    set_condition(status, c.CONDITION_FAILED, "True", reason, error.message, now)
    status["errorState"] = error_state(error)


def state_json(run_name: str, action_name: str, phase: str, now: datetime) -> str:
    # Go json.Marshal of a map: keys sorted, no spaces.
    return json.dumps(
        {"actionId": f"{run_name}/{action_name}", "phase": phase, "timestamp": rfc3339(now)}, separators=(",", ":"), sort_keys=True
    )


# Fields this operator owns in status; everything else (signal*, written by the control plane) is left alone.
OWNED_STATUS_FIELDS = (
    "stateJson",
    "pluginState",
    "pluginStateVersion",
    "pluginPhase",
    "pluginPhaseVersion",
    "attempts",
    "systemFailures",
    "cacheStatus",
    "conditions",
    "phaseHistory",
    "errorState",
)
# stateJson carries a timestamp: a change of it alone is not worth a write (as upstream).
_COMPARED_FIELDS = tuple(f for f in OWNED_STATUS_FIELDS if f != "stateJson")


def status_patch(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | None:
    """A merge patch of the owned fields that changed, or None when nothing worth writing changed. Text holding a
    secret value (a task's log tail, a storage error) is written redacted (redact.py), and compared so: else a status
    holding one would differ from what was written, and be written again, at every reconcile."""
    new = {f: redact.strings(new[f]) for f in OWNED_STATUS_FIELDS if f in new}
    if all(old.get(f) == new.get(f) for f in _COMPARED_FIELDS):
        return None
    return {f: json_copy(new.get(f)) for f in OWNED_STATUS_FIELDS if old.get(f) != new.get(f)}


def terminal_time(status: dict[str, Any], now: datetime) -> datetime:
    for type_ in (c.CONDITION_SUCCEEDED, c.CONDITION_FAILED):
        cond = find_condition(status, type_)
        if cond and cond.get("status") == "True" and cond.get("lastTransitionTime"):
            return parse_time(cond["lastTransitionTime"])
    return now


def terminal_labels(labels: dict[str, str], status: dict[str, Any], now: datetime) -> dict[str, str] | None:
    """ensureTerminalLabels: the labels to add, or None when both are already there."""
    if labels.get(c.LABEL_TERMINATION_STATUS) == c.LABEL_VALUE_TERMINATED and labels.get(c.LABEL_COMPLETED_TIME):
        return None
    return {
        c.LABEL_TERMINATION_STATUS: c.LABEL_VALUE_TERMINATED,
        c.LABEL_COMPLETED_TIME: completed_time_label(terminal_time(status, now)),
    }
