"""The task's timeout as each attempt's deadline: activeDeadlineSeconds on the pod, the instant the operator ends
it, and the kubelet's DeadlineExceeded named after it."""

from __future__ import annotations

from datetime import timedelta

from taskaction_operator.api.phase import Phase
from taskaction_operator.api.times import rfc3339
from taskaction_operator.pods.deadline import active_deadline_seconds, attempt_deadline, timeout_seconds
from taskaction_operator.pods.phase import demystify
from taskaction_operator.settings import Settings

from ..builders import CREATED, NOW, pod, task_template
from .pod_builders import make


def timed(seconds: float):
    template = task_template()
    template.metadata.timeout.seconds = int(seconds)
    template.metadata.timeout.nanos = int((seconds % 1) * 1e9)
    return template


def test_no_timeout_no_deadline() -> None:
    assert timeout_seconds(task_template()) is None and timeout_seconds(timed(0)) is None
    assert "activeDeadlineSeconds" not in make(task_template())["spec"]
    assert attempt_deadline(task_template(), pod()) is None


def test_the_pod_gets_the_timeout_as_active_deadline_seconds_rounded_up() -> None:
    assert timeout_seconds(timed(90.5)) == 90.5 and active_deadline_seconds(timed(90.5)) == 91
    assert active_deadline_seconds(timed(0.2)) == 1
    assert make(timed(600))["spec"]["activeDeadlineSeconds"] == 600


def test_the_deadline_counts_from_the_pods_start_else_its_creation() -> None:
    waiting = pod()
    assert attempt_deadline(timed(30), waiting) == CREATED + timedelta(seconds=30)
    started = pod()
    started["status"]["startTime"] = rfc3339(CREATED + timedelta(seconds=20))
    assert attempt_deadline(timed(30), started) == CREATED + timedelta(seconds=50)


def test_the_kubelets_deadline_exceeded_is_the_tasks_timeout_a_user_retry() -> None:
    ended = pod(phase="Failed", reason="DeadlineExceeded", message="Pod was active on the node longer than the specified deadline")
    info = demystify(ended, NOW, Settings())
    assert info.phase is Phase.RETRYABLE_FAILURE and (info.error.code, info.error.kind) == ("TaskTimedOut", "USER")
    assert "longer than the specified deadline" in info.error.message
