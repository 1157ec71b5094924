"""What waits for an action's events to be accepted: its terminal labels, and its finalizer (for a bounded time)."""

from __future__ import annotations

from datetime import timedelta

from taskaction_operator.api import constants as c
from taskaction_operator.reconcile.plan import Event, Plan
from taskaction_operator.reporting import delivery
from tests.unit import builders as b

LABELS = {c.LABEL_TERMINATION_STATUS: c.LABEL_VALUE_TERMINATED, c.LABEL_COMPLETED_TIME: "2026-08-08.12-00"}
DELETING = b.taskaction(finalizers=[c.FINALIZER], deleting=True)


def test_terminal_labels_wait_for_delivery_and_for_any_status_write_in_the_same_plan() -> None:
    body = b.taskaction()
    assert delivery.hold(body, Plan(terminal_labels=LABELS), True, b.NOW, 60).terminal_labels == LABELS
    assert delivery.hold(body, Plan(terminal_labels=LABELS), False, b.NOW, 60).terminal_labels is None
    assert delivery.hold(body, Plan(terminal_labels=LABELS, status_patch={"x": 1}), True, b.NOW, 60).terminal_labels is None


def test_the_finalizer_waits_for_delivery_until_the_abort_wait_has_passed() -> None:
    held = delivery.hold(DELETING, Plan(remove_finalizer=True, delete_pod="p"), False, b.NOW + timedelta(seconds=15), 60)
    assert (held.remove_finalizer, held.delete_pod, held.requeue_after) == (False, "p", 45.0)
    assert delivery.hold(DELETING, Plan(remove_finalizer=True), True, b.NOW, 60).remove_finalizer


def test_past_the_wait_the_finalizer_goes_with_a_warning() -> None:
    let_go = delivery.hold(DELETING, Plan(remove_finalizer=True), False, b.NOW + timedelta(seconds=60), 60)
    assert let_go.remove_finalizer
    assert [(e.type, e.reason) for e in let_go.events] == [("Warning", delivery.REASON_UNDELIVERED)]


def test_plans_without_either_pass_unchanged() -> None:
    plan = Plan(status_patch={"x": 1}, events=[Event("Normal", "Queued", "q")])
    assert delivery.hold(b.taskaction(), plan, False, b.NOW, 60) == plan


def test_what_waits_for_delivery() -> None:
    terminal = b.taskaction(status={"conditions": [{"type": c.CONDITION_SUCCEEDED, "status": "True"}]})
    assert delivery.waits_for_delivery(terminal)
    labelled = b.taskaction(status=terminal["status"], labels=LABELS)
    assert not delivery.waits_for_delivery(labelled) and delivery.all_reported(labelled)
    assert delivery.waits_for_delivery(DELETING)
    assert not delivery.waits_for_delivery(b.taskaction(deleting=True))  # not ours to hold
    assert not delivery.waits_for_delivery(b.taskaction(status=b.started_status()))


def test_a_deleted_action_is_let_go_once_our_finalizer_is_gone() -> None:
    assert not delivery.let_go(DELETING) and not delivery.let_go(b.taskaction(finalizers=[c.FINALIZER]))
    assert delivery.let_go(b.taskaction(deleting=True))
