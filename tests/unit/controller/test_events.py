"""Kubernetes Events by level (all, failures, off), never the same one twice in a row for one action."""

from __future__ import annotations

import pytest

from taskaction_operator.controller.events import EventRecorder
from taskaction_operator.reconcile.plan import Event

from ..builders import taskaction

QUEUED = Event("Normal", "Queued", "task submitted to K8s")
FAILED = Event("Warning", "PermanentFailure", "[Error] exit 1")


@pytest.mark.parametrize(("level", "posted"), [("all", [QUEUED, FAILED]), ("failures", [FAILED]), ("off", [])])
def test_levels(level: str, posted: list[Event]) -> None:
    recorder = EventRecorder(None, level)  # type: ignore[arg-type]  (wanted() makes no API call)
    body = taskaction()
    assert [e for e in (QUEUED, FAILED) if recorder.wanted(body, e)] == posted


def test_a_repeat_is_not_posted_but_a_change_and_back_is() -> None:
    recorder = EventRecorder(None, "all")  # type: ignore[arg-type]
    body, other = taskaction(), taskaction(name="other", uid="uid-other")
    assert recorder.wanted(body, FAILED)
    assert not recorder.wanted(body, FAILED)
    assert recorder.wanted(other, FAILED)  # per action
    assert recorder.wanted(body, QUEUED) and recorder.wanted(body, FAILED)
