"""Concurrency limits on starting attempts: at most TASKACTION_MAX_RUNNING_PER_NAMESPACE pods of unfinished attempts
in a namespace, and TASKACTION_MAX_RUNNING_PER_RUN in one run, so that a run with 10,000 children does not starve
every other run. Counted from the operator's pod store at each start (a scan of it: meant for limits that hold back
hundreds of actions, not hundreds of thousands); an action over a limit stays Queued and is looked at again every
few seconds (reconcile/task.py, `start_blocked`). 0: no limit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..api import constants as c
from ..pods.naming import sanitize_label_value
from ..reconcile import plugin_state
from ..reconcile import status as st
from ..settings import Settings

RUN_LABEL = "run"  # set on every pod by pods/builder.py, the run name as a label value
ENDED = ("Succeeded", "Failed")


def limited(settings: Settings) -> bool:
    return settings.max_running_per_namespace > 0 or settings.max_running_per_run > 0


def may_start(body: dict[str, Any]) -> bool:
    """A task action whose current attempt has not started: the limits apply to it."""
    status = body.get("status") or {}
    is_task = (body.get("spec") or {}).get("actionType") != c.ACTION_TYPE_CONDITION
    return is_task and not plugin_state.is_started(status) and not st.is_terminal(status) and not body["metadata"].get("deletionTimestamp")


def occupant(pod: dict[str, Any]) -> tuple[str, str] | None:
    """What the count reads of a pod (the pod store's summary of it): the namespace and run label of a pod that holds
    a place (not ended, not being deleted), or None."""
    if pod["metadata"].get("deletionTimestamp") or (pod.get("status") or {}).get("phase") in ENDED:
        return None
    return pod["metadata"].get("namespace") or "", (pod["metadata"].get("labels") or {}).get(RUN_LABEL) or ""


def start_blocked(occupants: Iterable[tuple[str, str] | None], namespace: str, run: str, settings: Settings) -> str | None:
    """Why an attempt of `run` in `namespace` may not start now, or None when it may; `occupants` are the pods'
    `occupant`s."""
    run_label = sanitize_label_value(run)
    in_namespace = in_run = 0
    for held in occupants:
        if held is None or held[0] != namespace:
            continue
        in_namespace += 1
        in_run += held[1] == run_label
    # The same words while it waits: the status is not written again at every look.
    if 0 < settings.max_running_per_namespace <= in_namespace:
        return f"waiting for a free place: {settings.max_running_per_namespace} pods run in namespace {namespace} (TASKACTION_MAX_RUNNING_PER_NAMESPACE)"
    if 0 < settings.max_running_per_run <= in_run:
        return f"waiting for a free place: {settings.max_running_per_run} pods run in run {run} (TASKACTION_MAX_RUNNING_PER_RUN)"
    return None
