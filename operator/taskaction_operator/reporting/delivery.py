"""What waits for the events of an action to be accepted (pure): its terminal labels, and its finalizer on delete.

The terminal labels mean "everything about this action was reported": after a restart the operator re-sends the
events of every action it sees, except those with the labels. So the labels wait until all events are accepted.
A deleted action keeps its finalizer until its ABORTED event (and any before it) is accepted, for at most
`abort_event_wait_seconds` after its deletion: a missing events service must not hold a namespace deletion forever.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from ..api import constants as c
from ..api.times import parse_time
from ..reconcile.plan import Event, Plan
from ..reconcile.status import is_terminal

REASON_UNDELIVERED = "ActionEventsNotDelivered"


def all_reported(body: dict[str, Any]) -> bool:
    """The terminal labels are there: every event of the action was accepted before they were written."""
    labels = body["metadata"].get("labels") or {}
    return labels.get(c.LABEL_TERMINATION_STATUS) == c.LABEL_VALUE_TERMINATED and bool(labels.get(c.LABEL_COMPLETED_TIME))


def let_go(body: dict[str, Any]) -> bool:
    """Deleted and no longer held by our finalizer: every event was accepted, or the abort wait gave up on them.
    Nothing more of it is sent: the rest, once the service is back, would be a history without its ABORTED."""
    meta = body["metadata"]
    return bool(meta.get("deletionTimestamp")) and c.FINALIZER not in (meta.get("finalizers") or [])


def waits_for_delivery(body: dict[str, Any]) -> bool:
    """Something of this action waits for its events: terminal labels to write, or our finalizer to remove."""
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        return c.FINALIZER in (meta.get("finalizers") or [])
    return is_terminal(body.get("status") or {}) and not all_reported(body)


def hold(body: dict[str, Any], plan: Plan, reported: bool, now: datetime, abort_wait_seconds: float) -> Plan:
    """The plan with what must wait for delivery taken out. A status write in the plan calls for events not sent
    yet, so its terminal labels always wait (the reporter requeues the action once its events are accepted)."""
    if plan.terminal_labels and (plan.status_patch is not None or not reported):
        plan = replace(plan, terminal_labels=None)
    if plan.remove_finalizer and not reported and not body["metadata"].get("deletionTimestamp"):
        # A finished action lets go of its finalizer with its terminal labels: once everything was accepted.
        return replace(plan, remove_finalizer=False)
    if plan.remove_finalizer and not reported:
        deleted = parse_time(body["metadata"].get("deletionTimestamp")) or now
        left = abort_wait_seconds - (now - deleted).total_seconds()
        if left > 0:
            plan = replace(plan, remove_finalizer=False)
            plan.requeue(left)
        else:
            message = f"the action's events were not accepted within {abort_wait_seconds:g}s of its deletion: let go without them"
            plan = replace(plan, events=[*plan.events, Event("Warning", REASON_UNDELIVERED, message)])
    return plan
