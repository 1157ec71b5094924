"""The ActionPhase of a TaskAction from its conditions (GetPhaseFromConditions)."""

from __future__ import annotations

import pytest
from flyteidl2.common import phase_pb2 as P

from taskaction_operator.client import action_phase

from .builders import cond


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ([], P.ACTION_PHASE_UNSPECIFIED),
        ([cond("Progressing", "True", "Queued")], P.ACTION_PHASE_QUEUED),
        ([cond("Progressing", "True", "Initializing")], P.ACTION_PHASE_INITIALIZING),
        ([cond("Progressing", "True", "Executing")], P.ACTION_PHASE_RUNNING),
        ([cond("Progressing", "True", "Paused")], P.ACTION_PHASE_PAUSED),
        ([cond("Progressing", "True", "RetryableFailure")], P.ACTION_PHASE_UNSPECIFIED),
        ([cond("Progressing", "False", "Completed"), cond("Succeeded", "True", "Completed")], P.ACTION_PHASE_SUCCEEDED),
        ([cond("Progressing", "False", "PermanentFailure"), cond("Failed", "True", "PermanentFailure")], P.ACTION_PHASE_FAILED),
        ([cond("Progressing", "False", "Aborted"), cond("Failed", "True", "Aborted")], P.ACTION_PHASE_FAILED),
        ([cond("Progressing", "False", "TimedOut"), cond("Failed", "True", "TimedOut")], P.ACTION_PHASE_TIMED_OUT),
        # list order decides: a Progressing=True left first wins over a later Succeeded
        ([cond("Progressing", "True", "Executing"), cond("Succeeded", "True", "Completed")], P.ACTION_PHASE_RUNNING),
        ([cond("Progressing", "True", "Other"), cond("Succeeded", "True", "Completed")], P.ACTION_PHASE_UNSPECIFIED),
        ([cond("Succeeded", "False", "Completed"), cond("Failed", "True", "X")], P.ACTION_PHASE_FAILED),
        ([cond("Succeeded", "Unknown", "")], P.ACTION_PHASE_UNSPECIFIED),
    ],
)
def test_phase_of_is_get_phase_from_conditions(conditions: list[dict], phase: int) -> None:
    assert action_phase.phase_of({"status": {"conditions": conditions}}) == phase


def test_phase_of_without_status_and_names() -> None:
    assert action_phase.phase_of({}) == P.ACTION_PHASE_UNSPECIFIED
    assert action_phase.phase_of(None) == P.ACTION_PHASE_UNSPECIFIED
    assert action_phase.phase_name(P.ACTION_PHASE_TIMED_OUT) == "TIMED_OUT"
    assert {p for p in P.ActionPhase.values() if action_phase.is_terminal(p)} == {
        P.ACTION_PHASE_SUCCEEDED, P.ACTION_PHASE_FAILED, P.ACTION_PHASE_ABORTED, P.ACTION_PHASE_TIMED_OUT, P.ACTION_PHASE_RECOVERED
    }
