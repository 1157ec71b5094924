"""The reporter's memory (no sending here; the cluster tier sends to a real Connect server): what counts as reported
after a restart, and when an action waiting for delivery is requeued."""

from __future__ import annotations

from taskaction_operator.api.times import rfc3339
from taskaction_operator.api import constants as c
from taskaction_operator.controller.reporter import ActionReporter
from taskaction_operator.controller.store import Key, ObjectStore
from taskaction_operator.reconcile.plan import Plan
from taskaction_operator.settings import Settings
from tests.unit import builders as b

KEY = (b.NAMESPACE, b.ROOT_NAME)
LABELS = {c.LABEL_TERMINATION_STATUS: c.LABEL_VALUE_TERMINATED, c.LABEL_COMPLETED_TIME: "2026-08-08.12-00"}
SUCCEEDED = {
    **b.started_status(),
    "conditions": [{"type": c.CONDITION_SUCCEEDED, "status": "True", "reason": "Completed", "message": "", "lastTransitionTime": rfc3339(b.NOW)}],
}


def reporter(requeued: list[Key], url: str | None = "http://127.0.0.1:9") -> ActionReporter:
    return ActionReporter(Settings(events_service_url=url), ObjectStore(), ObjectStore(), requeued.append)


def test_after_a_restart_an_unlabelled_action_is_reported_again_and_a_labelled_one_is_not() -> None:
    requeued: list[Key] = []
    r = reporter(requeued)
    unlabelled = b.taskaction(status=SUCCEEDED)
    r.observe(KEY, unlabelled)
    assert not r.reported(unlabelled) and r.pending() == 1
    labelled = b.taskaction(status=SUCCEEDED, labels=LABELS, uid="other")
    r.observe(KEY, labelled)  # a new object of the same name starts over
    assert r.reported(labelled) and r.pending() == 0
    assert requeued == []  # nothing waits: the labels are there


def test_a_terminal_action_with_nothing_to_report_is_requeued_for_its_labels() -> None:
    requeued: list[Key] = []
    r = reporter(requeued)
    invalid = b.taskaction(status={"conditions": SUCCEEDED["conditions"]})
    r.observe(KEY, invalid)
    assert r.reported(invalid) and requeued == [KEY]


def test_a_deleted_action_is_forgotten() -> None:
    r = reporter([])
    r.observe(KEY, b.taskaction(status=b.started_status()))
    r.observe(KEY, None)
    assert r.pending() == 0


def test_a_deleted_action_let_go_of_is_forgotten_before_it_is_gone() -> None:
    """Its finalizer removed after the abort wait: its events are not sent once the service is back."""
    r = reporter([])
    r.observe(KEY, b.taskaction(status=b.started_status(), finalizers=[c.FINALIZER], deleting=True))
    assert r.pending() == 2  # QUEUED, ABORTED
    r.observe(KEY, b.taskaction(status=b.started_status(), deleting=True))
    assert r.pending() == 0


def test_without_an_events_service_everything_counts_as_reported_and_nothing_is_held() -> None:
    r = reporter([], url=None)
    body = b.taskaction(status=SUCCEEDED)
    r.observe(KEY, body)
    assert r.reported(body) and r.pending() == 0
    plan = Plan(status_patch={"x": 1}, terminal_labels=LABELS)
    assert r.hold(body, plan) is plan  # the labels go with the status write that makes the action terminal


def test_with_an_events_service_the_labels_of_a_terminal_write_wait() -> None:
    r = reporter([])
    body = b.taskaction(status=SUCCEEDED)
    r.observe(KEY, body)
    assert r.hold(body, Plan(status_patch={"x": 1}, terminal_labels=LABELS)).terminal_labels is None
