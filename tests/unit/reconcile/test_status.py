"""Status bookkeeping: conditions, phase history, the write test, terminal labels (docs/upstream-contract.md,
"Phase and conditions", "Terminal labels and garbage collection")."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from taskaction_operator.api import constants as c
from taskaction_operator.api.phase import ExecError, Phase, PhaseInfo
from taskaction_operator.api.times import rfc3339
from taskaction_operator.reconcile import status as st

from ..builders import NOW

LATER = NOW + timedelta(minutes=5)


class TestSetCondition:
    def test_new_condition_is_appended_with_now(self) -> None:
        status: dict[str, Any] = {}
        st.set_condition(status, "Progressing", "True", "Queued", "task submitted to K8s", NOW)
        assert status["conditions"] == [
            {"type": "Progressing", "status": "True", "reason": "Queued", "message": "task submitted to K8s", "lastTransitionTime": rfc3339(NOW)}
        ]

    def test_same_status_keeps_the_transition_time(self) -> None:
        status: dict[str, Any] = {}
        st.set_condition(status, "Progressing", "True", "Queued", "q", NOW)
        st.set_condition(status, "Progressing", "True", "Executing", "running", LATER)
        (cond,) = status["conditions"]
        assert (cond["reason"], cond["message"]) == ("Executing", "running")
        assert cond["lastTransitionTime"] == rfc3339(NOW)

    def test_flip_moves_the_transition_time(self) -> None:
        status: dict[str, Any] = {}
        st.set_condition(status, "Progressing", "True", "Executing", "", NOW)
        st.set_condition(status, "Progressing", "False", "Completed", "TaskAction has completed", LATER)
        (cond,) = status["conditions"]
        assert cond["status"] == "False"
        assert cond["lastTransitionTime"] == rfc3339(LATER)

    def test_types_are_kept_apart_in_order(self) -> None:
        status: dict[str, Any] = {}
        st.set_condition(status, "Progressing", "False", "Completed", "a", NOW)
        st.set_condition(status, "Succeeded", "True", "Completed", "b", NOW)
        st.set_condition(status, "Progressing", "False", "Completed", "c", LATER)
        assert [(x["type"], x["message"]) for x in status["conditions"]] == [("Progressing", "c"), ("Succeeded", "b")]

    def test_message_is_cut_to_the_schema_limit(self) -> None:
        status: dict[str, Any] = {}
        st.set_condition(status, "Failed", "True", "PermanentFailure", "m" * 40000, NOW)
        assert len(status["conditions"][0]["message"]) == 32768


class TestPhaseHistory:
    def test_consecutive_same_phase_is_deduplicated(self) -> None:
        status: dict[str, Any] = {}
        st.append_phase_history(status, "Queued", "task submitted to K8s", NOW)
        st.append_phase_history(status, "Queued", "something else", LATER)
        assert status["phaseHistory"] == [{"phase": "Queued", "occurredAt": rfc3339(NOW), "message": "task submitted to K8s"}]

    def test_non_consecutive_repeats_are_kept(self) -> None:
        status: dict[str, Any] = {}
        for phase in ("Queued", "Executing", "Queued", "Queued", "Executing"):
            st.append_phase_history(status, phase, "", NOW)
        assert [e["phase"] for e in status["phaseHistory"]] == ["Queued", "Executing", "Queued", "Executing"]

    def test_empty_message_is_omitted(self) -> None:
        status: dict[str, Any] = {}
        st.append_phase_history(status, "Executing", "", NOW)
        assert status["phaseHistory"] == [{"phase": "Executing", "occurredAt": rfc3339(NOW)}]


def conds(status: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {x["type"]: (x["status"], x["reason"], x["message"]) for x in status.get("conditions") or []}


USER_ERR = ExecError("OOMKilled", "USER", "Pod OOMKilled")


@pytest.mark.parametrize(
    ("info", "expected_conditions", "history"),
    [
        (PhaseInfo(Phase.NOT_READY, "not ready"), {"Progressing": ("True", "Queued", "not ready")}, ("Queued", "not ready")),
        (PhaseInfo(Phase.QUEUED, "task submitted to K8s"), {"Progressing": ("True", "Queued", "task submitted to K8s")}, ("Queued", "task submitted to K8s")),
        (PhaseInfo(Phase.WAITING_FOR_RESOURCES, "quota"), {"Progressing": ("True", "Queued", "quota")}, ("Queued", "quota")),
        (PhaseInfo(Phase.WAITING_FOR_CACHE, "owner"), {"Progressing": ("True", "Queued", "owner")}, ("Queued", "owner")),
        (PhaseInfo(Phase.INITIALIZING, "[x]: pulling"), {"Progressing": ("True", "Initializing", "[x]: pulling")}, ("Initializing", "[x]: pulling")),
        (PhaseInfo(Phase.RUNNING, ""), {"Progressing": ("True", "Executing", "")}, ("Executing", None)),
        (
            PhaseInfo(Phase.SUCCESS),
            {
                "Progressing": ("False", "Completed", "TaskAction has completed"),
                "Succeeded": ("True", "Completed", "TaskAction completed successfully"),
            },
            ("Completed", "TaskAction completed successfully"),
        ),
        (
            PhaseInfo(Phase.PERMANENT_FAILURE, "reason text", USER_ERR),
            {"Progressing": ("False", "PermanentFailure", "Pod OOMKilled"), "Failed": ("True", "PermanentFailure", "Pod OOMKilled")},
            ("PermanentFailure", "Pod OOMKilled"),
        ),
        (
            PhaseInfo(Phase.PERMANENT_FAILURE, "only a reason"),
            {"Progressing": ("False", "PermanentFailure", "only a reason"), "Failed": ("True", "PermanentFailure", "only a reason")},
            ("PermanentFailure", "only a reason"),
        ),
        (
            PhaseInfo(Phase.RETRYABLE_FAILURE, "x", USER_ERR),
            {"Progressing": ("True", "RetryableFailure", "Pod OOMKilled")},
            ("RetryableFailure", "Pod OOMKilled"),
        ),
        (
            PhaseInfo(Phase.ABORTED),
            {"Progressing": ("False", "Aborted", "TaskAction was aborted"), "Failed": ("True", "Aborted", "TaskAction was aborted")},
            ("Aborted", "TaskAction was aborted"),
        ),
    ],
    ids=lambda v: v.phase.name if isinstance(v, PhaseInfo) else None,
)
def test_map_phase_to_conditions(info: PhaseInfo, expected_conditions: dict[str, Any], history: tuple[str, str | None]) -> None:
    status: dict[str, Any] = {}
    st.map_phase_to_conditions(status, info, NOW)
    assert conds(status) == expected_conditions
    (entry,) = status["phaseHistory"]
    assert (entry["phase"], entry.get("message")) == history
    assert entry["occurredAt"] == rfc3339(NOW)


def test_failures_set_error_state() -> None:
    status: dict[str, Any] = {}
    st.map_phase_to_conditions(status, PhaseInfo(Phase.PERMANENT_FAILURE, "r", USER_ERR), NOW)
    assert status["errorState"] == {"code": "OOMKilled", "kind": "USER", "message": "Pod OOMKilled"}
    status = {}
    st.map_phase_to_conditions(
        status, PhaseInfo(Phase.RETRYABLE_FAILURE, "r", ExecError("ResourceDeletedExternally", "SYSTEM", "gone")), NOW
    )
    assert status["errorState"] == {"code": "ResourceDeletedExternally", "kind": "SYSTEM", "message": "gone"}


@pytest.mark.parametrize("phase", [Phase.QUEUED, Phase.INITIALIZING, Phase.RUNNING, Phase.SUCCESS, Phase.ABORTED])
def test_non_failures_leave_error_state_alone(phase: Phase) -> None:
    status: dict[str, Any] = {"errorState": {"code": "Old", "kind": "USER", "message": "earlier attempt"}}
    st.map_phase_to_conditions(status, PhaseInfo(phase, "r"), NOW)
    assert status["errorState"] == {"code": "Old", "kind": "USER", "message": "earlier attempt"}


def test_undefined_changes_nothing() -> None:
    status: dict[str, Any] = {"attempts": 1}
    st.map_phase_to_conditions(status, PhaseInfo(Phase.UNDEFINED), NOW)
    assert status == {"attempts": 1}


@pytest.mark.parametrize(("kind", "expected"), [("USER", "USER"), ("SYSTEM", "SYSTEM"), ("UNKNOWN", ""), ("", "")])
def test_error_state_kind_mapping(kind: str, expected: str) -> None:
    assert st.error_state(ExecError("C", kind, "m")) == {"code": "C", "kind": expected, "message": "m"}


def test_fail_terminally() -> None:
    status: dict[str, Any] = {}
    st.fail_terminally(status, c.REASON_INVALID_SPEC, ExecError("InvalidSpec", "USER", "required spec fields are empty: [taskType]"), NOW)
    assert conds(status) == {
        "Progressing": ("False", "InvalidSpec", "required spec fields are empty: [taskType]"),
        "Failed": ("True", "InvalidSpec", "required spec fields are empty: [taskType]"),
    }
    assert status["errorState"]["code"] == "InvalidSpec"
    assert "phaseHistory" not in status
    assert st.is_terminal(status)


def test_state_json_is_go_json_of_a_map() -> None:
    got = st.state_json("rabc123", "a0", "PhaseRunning", NOW)
    assert got == '{"actionId":"rabc123/a0","phase":"PhaseRunning","timestamp":"2026-08-08T12:00:00Z"}'
    assert list(json.loads(got)) == sorted(json.loads(got))


class TestStatusPatch:
    BASE = {
        "attempts": 1,
        "pluginPhase": "PhaseRunning",
        "stateJson": st.state_json("r", "a0", "PhaseRunning", NOW),
        "conditions": [{"type": "Progressing", "status": "True", "reason": "Executing", "message": "", "lastTransitionTime": rfc3339(NOW)}],
        "phaseHistory": [{"phase": "Executing", "occurredAt": rfc3339(NOW)}],
        "signalledBy": "someone",
    }

    def test_identical_is_none(self) -> None:
        assert st.status_patch(self.BASE, json.loads(json.dumps(self.BASE))) is None

    def test_only_state_json_changed_is_none(self) -> None:
        new = {**self.BASE, "stateJson": st.state_json("r", "a0", "PhaseRunning", LATER)}
        assert st.status_patch(self.BASE, new) is None

    def test_fields_we_do_not_own_are_never_written(self) -> None:
        new = {**self.BASE, "signalledBy": "other", "signalValue": "CgIIAQ=="}
        assert st.status_patch(self.BASE, new) is None

    def test_changed_fields_only_including_state_json(self) -> None:
        new = {
            **self.BASE,
            "pluginPhase": "PhaseSuccess",
            "stateJson": st.state_json("r", "a0", "PhaseSuccess", LATER),
            "phaseHistory": [*self.BASE["phaseHistory"], {"phase": "Completed", "occurredAt": rfc3339(LATER)}],
        }
        patch = st.status_patch(self.BASE, new)
        assert patch == {"pluginPhase": "PhaseSuccess", "stateJson": new["stateJson"], "phaseHistory": new["phaseHistory"]}

    def test_removed_field_is_patched_to_null(self) -> None:
        old = {**self.BASE, "pluginState": "eyJ9", "pluginStateVersion": 2}
        new = {**self.BASE, "pluginState": None, "pluginStateVersion": 0}
        assert st.status_patch(old, new) == {"pluginState": None, "pluginStateVersion": 0}

    def test_patch_is_a_copy(self) -> None:
        new = {**self.BASE, "phaseHistory": [{"phase": "Queued", "occurredAt": rfc3339(NOW)}]}
        patch = st.status_patch(self.BASE, new)
        assert patch is not None
        patch["phaseHistory"].append({"phase": "X"})
        assert len(new["phaseHistory"]) == 1


class TestTerminalLabels:
    def test_completed_time_from_the_succeeded_condition(self) -> None:
        status: dict[str, Any] = {}
        st.map_phase_to_conditions(status, PhaseInfo(Phase.SUCCESS), NOW.replace(hour=9, minute=7, second=59))
        assert st.terminal_labels({}, status, LATER) == {
            "flyte.org/termination-status": "terminated",
            "flyte.org/completed-time": "2026-08-08.09-07",
        }

    def test_completed_time_from_the_failed_condition_in_utc(self) -> None:
        status = {
            "conditions": [
                {"type": "Progressing", "status": "False", "reason": "PermanentFailure", "message": "", "lastTransitionTime": "2026-01-02T00:30:00Z"},
                {"type": "Failed", "status": "True", "reason": "PermanentFailure", "message": "", "lastTransitionTime": "2026-01-02T01:05:09+02:00"},
            ]
        }
        assert st.terminal_labels({}, status, NOW)["flyte.org/completed-time"] == "2026-01-01.23-05"

    def test_format_is_lexicographically_ordered(self) -> None:
        a = st.terminal_labels({}, {}, NOW.replace(month=1, day=9, hour=9))["flyte.org/completed-time"]
        b = st.terminal_labels({}, {}, NOW.replace(month=12, day=10, hour=10))["flyte.org/completed-time"]
        assert (a, b) == ("2026-01-09.09-00", "2026-12-10.10-00")
        assert a < b

    def test_none_when_both_present(self) -> None:
        labels = {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.11-00"}
        assert st.terminal_labels(labels, {}, NOW) is None

    def test_completed_time_added_when_only_status_is_there(self) -> None:
        labels = {"flyte.org/termination-status": "terminated"}
        assert st.terminal_labels(labels, {}, NOW) == {
            "flyte.org/termination-status": "terminated",
            "flyte.org/completed-time": "2026-08-08.12-00",
        }

    def test_falls_back_to_now_without_a_terminal_condition(self) -> None:
        assert st.terminal_labels({}, {}, NOW)["flyte.org/completed-time"] == "2026-08-08.12-00"


def test_is_terminal() -> None:
    def with_(type_: str, status: str) -> dict[str, Any]:
        return {"conditions": [{"type": type_, "status": status, "reason": "X", "message": "", "lastTransitionTime": rfc3339(NOW)}]}

    assert st.is_terminal(with_("Succeeded", "True"))
    assert st.is_terminal(with_("Failed", "True"))
    assert not st.is_terminal(with_("Failed", "False"))
    assert not st.is_terminal(with_("Progressing", "True"))
    assert not st.is_terminal({})
