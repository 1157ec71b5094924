"""Parent TaskAction ownership of children (docs/upstream-contract.md, "Ownership") and the parent
gate of reconcile_task."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from taskaction_operator.api import constants as c
from taskaction_operator.api.times import rfc3339
from taskaction_operator.reconcile import ownership
from taskaction_operator.reconcile.task import reconcile_task
from taskaction_operator.settings import Settings

from ..builders import CREATED, NOW, cond_tuple, running_pod, spec, started_status, taskaction

PARENT_UID = "aaaaaaaa-0000-0000-0000-000000000001"
CHILD = "rabc123-train"
FIN = c.FINALIZER


def parent(deleting: bool = False) -> dict[str, Any]:
    return taskaction(uid=PARENT_UID, finalizers=[FIN], deleting=deleting)


def good_ref(**overrides: Any) -> dict[str, Any]:
    return {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": "rabc123-a0", "uid": PARENT_UID, "blockOwnerDeletion": True} | overrides


def child(owner_references: list[dict[str, Any]] | None = None, **kwargs: Any) -> dict[str, Any]:
    return taskaction(
        name=CHILD,
        uid="cccccccc-0000-0000-0000-000000000002",
        spec_=spec(actionName="train", parentActionName="a0"),
        owner_references=owner_references,
        labels={"flyte.org/is-root": "false"},
        **kwargs,
    )


class TestParentName:
    def test_root_has_none(self) -> None:
        assert ownership.parent_name(spec()) is None

    @pytest.mark.parametrize(("parent_action", "expected"), [("a0", "rabc123-a0"), ("rabc123", "rabc123-a0"), ("train", "rabc123-train")])
    def test_child(self, parent_action: str, expected: str) -> None:
        assert ownership.parent_name(spec(parentActionName=parent_action)) == expected


def test_root_needs_nothing(settings: Settings) -> None:
    decision = ownership.decide(taskaction(), None)
    assert decision.ready and decision.owner_references is None and decision.error is None
    plan = reconcile_task(taskaction(), None, None, NOW, settings)
    assert plan.metadata_patch == {"finalizers": [FIN]}
    assert plan.create_pod is not None


class TestReferenceAdded:
    def test_reference_written_and_pod_created_in_the_same_plan(self, settings: Settings) -> None:
        plan = reconcile_task(child(), None, parent(), NOW, settings)
        assert plan.metadata_patch == {"ownerReferences": [good_ref()], "finalizers": [FIN]}
        (ref,) = plan.metadata_patch["ownerReferences"]
        assert "controller" not in ref
        assert ref["blockOwnerDeletion"] is True
        assert plan.create_pod is not None
        assert plan.create_pod["metadata"]["name"] == "rabc123-train-0"
        assert cond_tuple(plan.status_patch, "Progressing") == ("True", "Queued", "task submitted to K8s")

    def test_other_owners_are_kept(self, settings: Settings) -> None:
        other = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "u"}
        plan = reconcile_task(child([other]), None, parent(), NOW, settings)
        assert plan.metadata_patch["ownerReferences"] == [other, good_ref()]

    def test_correct_reference_is_left_alone(self, settings: Settings) -> None:
        plan = reconcile_task(child([good_ref()]), None, parent(), NOW, settings)
        assert plan.metadata_patch == {"finalizers": [FIN]}
        assert plan.create_pod is not None

    def test_correct_reference_with_controller_false_is_accepted(self) -> None:
        assert ownership.decide(child([good_ref(controller=False)]), parent()).ready


class TestReferenceWrong:
    def test_wrong_name(self, settings: Settings) -> None:
        plan = reconcile_task(child([good_ref(name="rabc123-other")]), None, parent(), NOW, settings)
        assert plan.create_pod is None
        assert plan.metadata_patch is None
        status, reason, message = cond_tuple(plan.status_patch, "Failed")
        assert (status, reason) == ("True", "PermanentFailure")
        assert "rabc123-other" in message and "rabc123-a0" in message
        assert plan.status_patch["errorState"]["kind"] == "USER"
        assert plan.terminal_labels is not None
        assert any(e.type == "Warning" for e in plan.events)

    def test_wrong_uid(self, settings: Settings) -> None:
        plan = reconcile_task(child([good_ref(uid="stale-uid")]), None, parent(), NOW, settings)
        assert plan.create_pod is None
        status, reason, message = cond_tuple(plan.status_patch, "Failed")
        assert (status, reason) == ("True", "PermanentFailure")
        assert "stale-uid" in message and PARENT_UID in message
        assert "flyte/rabc123-a0" in message


class TestParentMissing:
    def test_waits_for_the_parent(self, settings: Settings) -> None:
        plan = reconcile_task(child(), None, None, NOW, settings)
        assert plan.create_pod is None
        assert plan.metadata_patch is None  # no finalizer while not started
        assert cond_tuple(plan.status_patch, "Progressing") == ("True", "Queued", "waiting for parent TaskAction flyte/rabc123-a0")
        assert plan.waiting_for_parent == "rabc123-a0"
        assert plan.terminal_labels is None
        # Re-checked no later than the deadline (created one minute ago, 300 s to wait) nor the resync.
        assert plan.requeue_after == pytest.approx(min(settings.resync_seconds, settings.parent_wait_seconds - 60))

    def test_gives_up_after_parent_wait_seconds(self, settings: Settings) -> None:
        later = CREATED + timedelta(seconds=settings.parent_wait_seconds)
        plan = reconcile_task(child(), None, None, later, settings)
        assert plan.create_pod is None
        status, reason, message = cond_tuple(plan.status_patch, "Failed")
        assert (status, reason) == ("True", "PermanentFailure")
        assert plan.status_patch["errorState"]["code"] == "ParentNotFound"
        assert "waiting for parent TaskAction flyte/rabc123-a0" in message and "5m0s" in message
        assert plan.terminal_labels is not None

    def test_wait_is_configurable(self) -> None:
        plan = reconcile_task(child(), None, None, NOW, Settings(parent_wait_seconds=30))
        assert plan.status_patch["errorState"]["code"] == "ParentNotFound"

    def test_parent_gone_after_the_reference_was_written(self, settings: Settings) -> None:
        plan = reconcile_task(child([good_ref()]), None, None, NOW, settings)
        assert plan.create_pod is None
        assert "was deleted" in cond_tuple(plan.status_patch, "Progressing")[2]
        late = reconcile_task(child([good_ref()]), None, None, NOW + timedelta(hours=1), settings)
        assert late.status_patch["errorState"]["code"] == "ParentDeleted"


class TestParentDeleting:
    def test_child_without_reference_is_owned_but_not_started(self, settings: Settings) -> None:
        plan = reconcile_task(child(), None, parent(deleting=True), NOW, settings)
        assert plan.create_pod is None
        assert plan.metadata_patch == {"ownerReferences": [good_ref()]}
        assert "finalizers" not in plan.metadata_patch
        status, reason, message = cond_tuple(plan.status_patch, "Progressing")
        assert (status, reason) == ("True", "Queued")
        assert "being deleted" in message
        assert plan.requeue_after is not None

    def test_child_with_reference_is_not_started(self, settings: Settings) -> None:
        plan = reconcile_task(child([good_ref()]), None, parent(deleting=True), NOW, settings)
        assert plan.create_pod is None and plan.metadata_patch is None
        assert "being deleted" in cond_tuple(plan.status_patch, "Progressing")[2]


@pytest.mark.parametrize("parent_state", ["deleting", "gone"])
def test_started_child_keeps_being_monitored_when_its_parent_goes(parent_state: str, settings: Settings) -> None:
    body = child([good_ref()], finalizers=[FIN], status=started_status())
    the_parent = parent(deleting=True) if parent_state == "deleting" else None
    its_pod = running_pod("rabc123-train-0")
    its_pod["metadata"]["ownerReferences"][0]["uid"] = body["metadata"]["uid"]
    plan = reconcile_task(body, its_pod, the_parent, NOW + timedelta(hours=1), settings)
    assert plan.status_patch is not None
    assert cond_tuple(plan.status_patch, "Progressing") == ("True", "Executing", "")
    assert plan.terminal_labels is None


def test_deleting_child_is_not_gated_by_its_parent(settings: Settings) -> None:
    body = child([good_ref()], finalizers=[FIN], deleting=True)
    plan = reconcile_task(body, None, None, NOW, settings)
    assert plan.remove_finalizer
    assert plan.status_patch is None


def test_created_timestamp_is_used_for_the_deadline() -> None:
    settings = Settings(resync_seconds=3600)
    young = child(created=NOW - timedelta(seconds=10))
    plan = reconcile_task(young, None, None, NOW, settings)
    assert plan.requeue_after == pytest.approx(settings.parent_wait_seconds - 10)
    assert young["metadata"]["creationTimestamp"] == rfc3339(NOW - timedelta(seconds=10))


class TestLineageLoops:
    """A child whose lineage comes back to itself never runs: it would own itself, or its ancestors would."""

    def test_its_own_parent(self, settings: Settings) -> None:
        body = taskaction(name="rabc123-a1", spec_=spec(actionName="a1", parentActionName="a1"))
        plan = reconcile_task(body, None, body, NOW, settings)
        assert plan.create_pod is None and plan.metadata_patch is None
        assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "PermanentFailure")
        assert plan.status_patch["errorState"]["code"] == ownership.CODE_PARENT_CYCLE
        assert "rabc123-a1 -> rabc123-a1" in plan.status_patch["errorState"]["message"]

    def test_a_loop_of_two(self, settings: Settings) -> None:
        a = taskaction(name="rabc123-x", uid="uid-x", spec_=spec(actionName="x", parentActionName="y"))
        b = taskaction(name="rabc123-y", uid="uid-y", spec_=spec(actionName="y", parentActionName="x"))
        plan = reconcile_task(a, None, b, NOW, settings, ancestors=[a])
        assert plan.status_patch["errorState"]["code"] == ownership.CODE_PARENT_CYCLE
        assert "rabc123-x -> rabc123-y -> rabc123-x" in plan.status_patch["errorState"]["message"]
        assert plan.metadata_patch is None

    def test_a_long_lineage_without_a_loop_runs(self, settings: Settings) -> None:
        root = taskaction(uid=PARENT_UID)
        mid = taskaction(name="rabc123-m", uid="uid-m", spec_=spec(actionName="m", parentActionName="a0"))
        leaf = taskaction(name="rabc123-l", uid="uid-l", spec_=spec(actionName="l", parentActionName="m"), finalizers=[FIN])
        plan = reconcile_task(leaf, None, mid, NOW, settings, ancestors=[root])
        assert plan.create_pod is not None
