"""The Controller's watch-event handling, without an API server: what its stores keep."""

from __future__ import annotations

from typing import Any

from taskaction_operator.controller.runtime import Controller
from taskaction_operator.settings import Settings

from ..builders import NAMESPACE, ROOT_NAME, started_status, succeeded_pod, taskaction

TERMINAL_LABELS = {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.11-00"}


def finished_action() -> dict[str, Any]:
    return taskaction(labels=TERMINAL_LABELS, status={**started_status(), "pluginPhase": "PhaseSuccess"}, resource_version="1001")


def controller() -> Controller:
    return Controller(None, Settings(read_outputs=False))  # type: ignore[arg-type]  # the handlers call no API


def test_the_pod_of_an_action_that_finishes_is_kept_settled() -> None:
    ctl = controller()
    ctl.on_taskaction_event(None, taskaction(status=started_status()))
    ctl.on_pod_event("MODIFIED", succeeded_pod())
    pod_key = (NAMESPACE, ROOT_NAME + "-0")
    assert "containerStatuses" in ctl.pods.get(pod_key)["status"], "its owner still decides with it"
    ctl.on_taskaction_event("MODIFIED", finished_action())
    assert ctl.pods.get(pod_key)["status"] == {"phase": "Succeeded"}


def test_a_pod_seen_after_its_action_finished_is_stored_settled() -> None:
    ctl = controller()
    ctl.on_taskaction_event(None, finished_action())
    ctl.on_pod_event(None, succeeded_pod())
    assert ctl.pods.get((NAMESPACE, ROOT_NAME + "-0"))["status"] == {"phase": "Succeeded"}
