"""Condition (human-in-the-loop) actions: no pod, Paused until a signal arrives or the timeout passes.

A port of the Go executor's taskaction_condition.go. The control plane writes status.signalValue; we own the
conditions, phaseHistory and errorState only, so a concurrent signal is never overwritten.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from flyteidl2.workflow import run_definition_pb2
from google.protobuf.message import DecodeError

from ..api import constants as c
from ..api.decoding import decode_base64
from ..api import phase as ph
from ..api.times import parse_time
from . import status as st
from .plan import Plan

CODE_CONDITION_TIMED_OUT = "ConditionTimedOut"


def _parse_spec(encoded: str | None, name: str) -> run_definition_pb2.ConditionAction:
    if not encoded:
        raise ValueError(f'condition action "{name}" has empty conditionSpec')
    action = run_definition_pb2.ConditionAction()
    try:
        action.ParseFromString(decode_base64(encoded))
    except (DecodeError, ValueError) as exc:
        raise ValueError(f"failed to unmarshal conditionSpec: {exc}") from exc
    return action


def _persisted(body: dict[str, Any], status: dict[str, Any], now: datetime) -> Plan:
    plan = Plan(status_patch=st.status_patch(body.get("status") or {}, status))
    if st.is_terminal(status):
        plan.terminal_labels = st.terminal_labels(body["metadata"].get("labels") or {}, status, now)
    return plan


def reconcile_condition(body: dict[str, Any], now: datetime) -> Plan:
    meta = body["metadata"]
    old = body.get("status") or {}
    if meta.get("deletionTimestamp"):
        return Plan()
    if st.is_terminal(old):
        # A late signal is ignored: terminal is terminal.
        return Plan(terminal_labels=st.terminal_labels(meta.get("labels") or {}, old, now))
    status = copy.deepcopy(old)
    if old.get("signalValue"):
        message = f'condition signalled by "{old.get("signalledBy") or ""}"'
        st.set_condition(status, c.CONDITION_PROGRESSING, "False", c.REASON_SIGNALED, message, now)
        st.set_condition(status, c.CONDITION_SUCCEEDED, "True", c.REASON_SIGNALED, message, now)
        st.append_phase_history(status, c.REASON_SIGNALED, message, now)
        return _persisted(body, status, now)
    try:
        spec = _parse_spec((body.get("spec") or {}).get("conditionSpec"), meta["name"])
    except ValueError as exc:
        st.fail_terminally(status, c.REASON_INVALID_SPEC, ph.ExecError(c.REASON_INVALID_SPEC, c.KIND_USER, str(exc)), now)
        return _persisted(body, status, now)
    timeout = spec.timeout.ToTimedelta() if spec.HasField("timeout") else timedelta(0)
    created = parse_time(meta.get("creationTimestamp")) or now
    deadline = created + timeout if timeout > timedelta(0) else None
    if deadline is not None and now >= deadline:
        message = f"condition timed out after {ph.go_duration(round((now - created).total_seconds()))} without a signal"
        error = ph.ExecError(CODE_CONDITION_TIMED_OUT, c.KIND_USER, message)
        st.fail_terminally(status, c.REASON_TIMED_OUT, error, now)
        st.append_phase_history(status, c.REASON_TIMED_OUT, message, now)
        return _persisted(body, status, now)
    st.set_condition(status, c.CONDITION_PROGRESSING, "True", c.REASON_PAUSED, "waiting for signal", now)
    st.append_phase_history(status, c.REASON_PAUSED, "waiting for signal", now)
    plan = _persisted(body, status, now)
    if deadline is not None:
        plan.requeue(max((deadline - now).total_seconds(), 0.0))
    return plan
