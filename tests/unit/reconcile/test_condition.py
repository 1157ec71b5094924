"""Condition (HITL) actions (docs/upstream-contract.md, "Condition actions")."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from taskaction_operator.api import constants as c
from taskaction_operator.api.times import rfc3339
from taskaction_operator.reconcile.condition import reconcile_condition
from taskaction_operator.reconcile.dispatch import reconcile
from taskaction_operator.settings import Settings

from ..builders import (
    CREATED,
    NOW,
    apply_status,
    b64,
    bool_literal,
    cond_tuple,
    condition_action,
    condition_taskaction,
    encode,
    taskaction,
)


def paused(timeout: float | None = None, created=CREATED) -> tuple[dict[str, Any], Any]:
    body = condition_taskaction(condition_spec=encode(condition_action(timeout_seconds=timeout)), created=created)
    plan = reconcile_condition(body, NOW)
    return apply_status(body, plan.status_patch), plan


def signal(body: dict[str, Any], who: str = "user@example.com") -> dict[str, Any]:
    out = dict(body)
    out["status"] = {
        **body["status"],
        "signalValue": encode(bool_literal(True)),
        "signalledBy": who,
        "signalledAt": rfc3339(NOW),
    }
    return out


class TestPaused:
    def test_waits_for_a_signal_without_finalizer(self) -> None:
        body, plan = paused()
        assert cond_tuple(body, "Progressing") == ("True", "Paused", "waiting for signal")
        assert [(e["phase"], e["message"]) for e in body["status"]["phaseHistory"]] == [("Paused", "waiting for signal")]
        assert plan.metadata_patch is None  # no finalizer, ever
        assert plan.create_pod is None and plan.delete_pod is None
        assert plan.terminal_labels is None
        assert plan.requeue_after is None  # no timeout: the signal's status write wakes us

    def test_requeued_at_the_deadline(self) -> None:
        _, plan = paused(timeout=120)  # created one minute before NOW
        assert plan.requeue_after == pytest.approx(60)

    def test_paused_again_writes_nothing(self) -> None:
        body, _ = paused(timeout=3600)
        again = reconcile_condition(body, NOW + timedelta(seconds=5))
        assert again.status_patch is None
        assert again.requeue_after == pytest.approx(3600 - 65)


class TestSignal:
    def test_signal_succeeds(self) -> None:
        body, _ = paused(timeout=3600)
        plan = reconcile_condition(signal(body), NOW + timedelta(seconds=10))
        message = 'condition signalled by "user@example.com"'
        patch = plan.status_patch
        assert cond_tuple(patch, "Succeeded") == ("True", "Signaled", message)
        assert cond_tuple(patch, "Progressing") == ("False", "Signaled", message)
        assert [e["phase"] for e in patch["phaseHistory"]] == ["Paused", "Signaled"]
        assert plan.terminal_labels == {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.12-00"}
        # The signal fields belong to the control plane: never part of our write.
        assert not {"signalValue", "signalledBy", "signalledAt"} & set(patch)
        assert plan.requeue_after is None

    def test_signal_before_the_first_reconcile(self) -> None:
        body = condition_taskaction(
            condition_spec=encode(condition_action()),
            status={"signalValue": encode(bool_literal(False)), "signalledBy": "bot"},
        )
        plan = reconcile_condition(body, NOW)
        assert cond_tuple(plan.status_patch, "Succeeded") == ("True", "Signaled", 'condition signalled by "bot"')

    def test_signal_wins_over_an_expired_timeout(self) -> None:
        body, _ = paused(timeout=70)
        plan = reconcile_condition(signal(body), NOW + timedelta(hours=1))
        assert cond_tuple(plan.status_patch, "Succeeded")[:2] == ("True", "Signaled")


class TestTimeout:
    def test_times_out(self) -> None:
        body, _ = paused(timeout=2, created=NOW - timedelta(seconds=1))
        later = NOW + timedelta(seconds=1, milliseconds=200)  # 2.2 s after creation
        plan = reconcile_condition(body, later)
        patch = plan.status_patch
        message = "condition timed out after 2s without a signal"
        assert cond_tuple(patch, "Failed") == ("True", "TimedOut", message)
        assert cond_tuple(patch, "Progressing") == ("False", "TimedOut", message)
        assert patch["errorState"] == {"code": "ConditionTimedOut", "kind": "USER", "message": message}
        assert [e["phase"] for e in patch["phaseHistory"]] == ["Paused", "TimedOut"]
        assert plan.terminal_labels is not None

    def test_go_duration_in_the_message(self) -> None:
        body = condition_taskaction(condition_spec=encode(condition_action(timeout_seconds=60)))
        plan = reconcile_condition(body, CREATED + timedelta(minutes=1, seconds=5))
        assert cond_tuple(plan.status_patch, "Failed")[2] == "condition timed out after 1m5s without a signal"

    def test_elapsed_time_is_rounded_to_the_second(self) -> None:
        body = condition_taskaction(condition_spec=encode(condition_action(timeout_seconds=2)), created=NOW)
        plan = reconcile_condition(body, NOW + timedelta(seconds=2, milliseconds=600))
        assert cond_tuple(plan.status_patch, "Failed")[2] == "condition timed out after 3s without a signal"

    def test_late_signal_is_ignored(self) -> None:
        body, _ = paused(timeout=1, created=NOW - timedelta(seconds=5))
        timed_out = apply_status(body, reconcile_condition(body, NOW).status_patch)
        assert cond_tuple(timed_out, "Failed")[:2] == ("True", "TimedOut")
        timed_out["metadata"]["labels"].update(
            {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.12-00"}
        )
        plan = reconcile_condition(signal(timed_out), NOW + timedelta(seconds=5))
        assert plan.status_patch is None
        assert plan.terminal_labels is None
        assert plan.metadata_patch is None


class TestInvalidSpec:
    @pytest.mark.parametrize(
        ("condition_spec", "message_start"),
        [
            (None, 'condition action "rabc123-approve" has empty conditionSpec'),
            ("", 'condition action "rabc123-approve" has empty conditionSpec'),
            ("%%% not base64", "failed to unmarshal conditionSpec"),
            (b64(b"\xff\xff\xff\xff"), "failed to unmarshal conditionSpec"),
        ],
        ids=["absent", "empty", "not-base64", "not-a-protobuf"],
    )
    def test_invalid_spec(self, condition_spec: str | None, message_start: str) -> None:
        plan = reconcile_condition(condition_taskaction(condition_spec=condition_spec), NOW)
        patch = plan.status_patch
        status, reason, message = cond_tuple(patch, "Failed")
        assert (status, reason) == ("True", "InvalidSpec")
        assert message.startswith(message_start)
        assert cond_tuple(patch, "Progressing")[:2] == ("False", "InvalidSpec")
        assert patch["errorState"] == {"code": "InvalidSpec", "kind": "USER", "message": message}
        assert "phaseHistory" not in patch
        assert plan.terminal_labels is not None


def test_deleting_condition_needs_nothing() -> None:
    body, _ = paused()
    body["metadata"]["deletionTimestamp"] = rfc3339(NOW)
    plan = reconcile_condition(body, NOW)
    assert plan.status_patch is None and plan.metadata_patch is None and not plan.remove_finalizer


class TestDispatch:
    def test_condition_goes_to_the_condition_reconcile_and_gets_its_parent_reference(self) -> None:
        parent = taskaction(uid="parent-uid")
        body = condition_taskaction(condition_spec=encode(condition_action()))
        plan = reconcile(body, None, parent, NOW, Settings())
        assert plan.create_pod is None
        assert cond_tuple(plan.status_patch, "Progressing") == ("True", "Paused", "waiting for signal")
        assert plan.metadata_patch == {
            "ownerReferences": [
                {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": "rabc123-a0", "uid": "parent-uid", "blockOwnerDeletion": True}
            ]
        }
        assert c.FINALIZER not in str(plan.metadata_patch)

    def test_task_goes_to_the_task_reconcile(self) -> None:
        plan = reconcile(taskaction(), None, None, NOW, Settings())
        assert plan.create_pod is not None
