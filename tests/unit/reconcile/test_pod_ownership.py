"""A pod is the attempt's only when this TaskAction controls it (its uid): names alone are not enough, since a
TaskAction deleted and made again under the same name finds its predecessor's pod until the garbage collector
removes it."""

from __future__ import annotations

from typing import Any

from taskaction_operator.api import constants as c
from taskaction_operator.reconcile.task import CODE_POD_NAME_TAKEN, reconcile_task
from taskaction_operator.settings import Settings

from ..builders import NOW, ROOT_NAME, World, cond_tuple, failed_pod, succeeded_pod, taskaction

RECREATED_UID = "99999999-0000-0000-0000-000000000001"
SETTINGS = Settings(read_outputs=False)


def recreated() -> dict[str, Any]:
    """The same name as the builders' TaskAction, a new uid, nothing done yet."""
    return taskaction(uid=RECREATED_UID, finalizers=[c.FINALIZER])


def test_the_predecessors_succeeded_pod_is_not_adopted_but_deleted() -> None:
    old_pod = succeeded_pod()  # controlled by the builders' default uid: the predecessor
    plan = reconcile_task(recreated(), old_pod, None, NOW, SETTINGS)
    assert plan.delete_pod == ROOT_NAME + "-0"
    assert plan.create_pod is None
    assert cond_tuple(plan.status_patch, "Progressing")[:2] == ("True", "Queued")
    assert "earlier TaskAction" in cond_tuple(plan.status_patch, "Progressing")[2]
    assert cond_tuple(plan.status_patch, "Succeeded") is None
    assert plan.requeue_after is not None and plan.requeue_after <= 1.0


def test_a_predecessors_pod_already_going_is_waited_for() -> None:
    old_pod = succeeded_pod()
    old_pod["metadata"]["deletionTimestamp"] = "2026-08-08T11:59:00Z"
    plan = reconcile_task(recreated(), old_pod, None, NOW, SETTINGS)
    assert plan.delete_pod is None and plan.create_pod is None
    assert cond_tuple(plan.status_patch, "Progressing")[:2] == ("True", "Queued")


def test_once_the_old_pod_is_gone_a_new_one_is_made() -> None:
    plan = reconcile_task(recreated(), None, None, NOW, SETTINGS)
    assert plan.create_pod is not None
    assert plan.create_pod["metadata"]["ownerReferences"][0]["uid"] == RECREATED_UID


def test_a_pod_no_taskaction_controls_ends_the_action() -> None:
    stranger = succeeded_pod()
    stranger["metadata"]["ownerReferences"] = []
    plan = reconcile_task(recreated(), stranger, None, NOW, SETTINGS)
    assert plan.delete_pod is None
    assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "PermanentFailure")
    assert plan.status_patch["errorState"]["code"] == CODE_POD_NAME_TAKEN


def test_a_pod_of_an_earlier_launch_of_the_attempt_is_deleted_not_counted_again() -> None:
    """A system failure restarts the attempt under the same pod name. The status is recorded first; if the operator
    dies before the old pod is deleted, the next decision finds that pod: it must delete it, not adopt it (which
    would count the same failure again) nor run the attempt twice."""
    world = World(taskaction(), SETTINGS)
    world.reconcile()  # finalizer
    world.reconcile()  # pod of launch 1.0
    name = ROOT_NAME + "-0"
    world.set_pod(failed_pod(name, pod_reason="Shutdown"))  # the node went away: SYSTEM Interrupted
    plan = world.reconcile()
    assert plan.delete_pod == name and world.status["systemFailures"] == 1
    old_pod = world.pods.get(name) or failed_pod(name, pod_reason="Shutdown")
    old_pod["metadata"]["annotations"][c.ANNOTATION_LAUNCH] = "1.0"
    world.pods[name] = old_pod  # the crash: the deletion never happened
    plan = world.reconcile()
    assert plan.delete_pod == name and plan.create_pod is None
    assert world.status["systemFailures"] == 1
    assert cond_tuple(world.body, "Progressing")[:2] == ("True", "Queued")
    assert name not in world.pods  # deleted this time
    plan = world.reconcile()
    assert plan.create_pod is not None
    assert plan.create_pod["metadata"]["annotations"][c.ANNOTATION_LAUNCH] == "1.1"
