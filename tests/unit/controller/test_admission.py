"""The concurrency limits on starting attempts, counted from the pod store: per namespace and per run, only pods of
unfinished attempts (not ended, not being deleted)."""

from __future__ import annotations

from taskaction_operator.controller.admission import may_start, occupant, start_blocked
from taskaction_operator.settings import Settings

from ..builders import failed_pod, pod, running_pod, started_status, taskaction


def in_run(pod_: dict, run: str, namespace: str = "flyte") -> dict:
    pod_["metadata"]["labels"]["run"] = run
    pod_["metadata"]["namespace"] = namespace
    return pod_


def test_per_namespace_and_per_run() -> None:
    pods = [in_run(running_pod("a-0"), "r1"), in_run(pod("b-0"), "r1"), in_run(running_pod("c-0"), "r2"),
            in_run(failed_pod("d-0"), "r1"), in_run(pod("e-0", deleting=True), "r1"), in_run(running_pod("f-0"), "r1", "other")]
    pods = [occupant(p) for p in pods]
    assert start_blocked(pods, "flyte", "r1", Settings()) is None  # no limits
    assert start_blocked(pods, "flyte", "r1", Settings(max_running_per_namespace=4)) is None  # 3 active here
    blocked = start_blocked(pods, "flyte", "r1", Settings(max_running_per_namespace=3))
    assert blocked == "waiting for a free place: 3 pods run in namespace flyte (TASKACTION_MAX_RUNNING_PER_NAMESPACE)"
    assert start_blocked(pods, "flyte", "r1", Settings(max_running_per_run=2)).endswith("2 pods run in run r1 (TASKACTION_MAX_RUNNING_PER_RUN)")
    assert start_blocked(pods, "flyte", "r2", Settings(max_running_per_run=2)) is None


def test_only_an_unstarted_task_attempt_is_held() -> None:
    assert may_start(taskaction())
    assert not may_start(taskaction(status=started_status()))
