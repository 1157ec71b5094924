"""Pod status -> plugin phase: DemystifyPodStatus over the whole table of docs/upstream-contract.md,
"Pod status -> phase", with our documented difference (plain non-zero exit on a Failed pod is a USER failure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from taskaction_operator.api.phase import Phase, PhaseInfo, go_duration
from taskaction_operator.api.times import rfc3339
from taskaction_operator.pods.phase import demystify
from taskaction_operator.settings import Settings

from ..builders import NOW, container_status, pod, pod_condition, terminated, waiting

P = "rabc123-a0-0"  # the pod's name is its primary container's name
USER, SYSTEM = "USER", "SYSTEM"


@dataclass(frozen=True)
class Want:
    phase: Phase
    kind: str | None = None  # error kind, None when no error is expected
    code: str | None = None
    reason: str | None = None  # exact PhaseInfo.reason when given
    contains: str | None = None  # substring of the error message / reason


def check(info: PhaseInfo, want: Want) -> None:
    assert info.phase is want.phase, info
    if want.kind is None:
        assert info.error is None, info
    else:
        assert info.error is not None, info
        assert info.error.kind == want.kind, info
        if want.code is not None:
            assert info.error.code == want.code, info
    if want.reason is not None:
        assert info.reason == want.reason, info
    if want.contains is not None:
        text = info.error.message if info.error else info.reason
        assert want.contains in text, info


def not_ready(*statuses: dict[str, Any], since: timedelta = timedelta(0), init: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return pod(
        P,
        phase="Pending",
        container_statuses=list(statuses),
        init_container_statuses=init,
        conditions=[
            pod_condition("PodScheduled", "True"),
            pod_condition("Ready", "False", "ContainersNotReady", f"containers with unready status: [{P}]", since=NOW - since),
        ],
    )


def waiting_pod(reason: str, message: str = "", since: timedelta = timedelta(0)) -> dict[str, Any]:
    return not_ready(container_status(P, waiting(reason, message)), since=since)


MIN3 = timedelta(minutes=3)
CASES: dict[str, tuple[dict[str, Any], Want]] = {
    # --- Succeeded -------------------------------------------------------------------------------------------
    "succeeded": (pod(P, phase="Succeeded", container_statuses=[container_status(P, terminated(0, "Completed"))]), Want(Phase.SUCCESS)),
    "succeeded-but-oomkilled": (
        pod(P, phase="Succeeded", container_statuses=[container_status(P, terminated(0, "OOMKilled"))]),
        Want(Phase.RETRYABLE_FAILURE, USER, "OOMKilled", contains="Pod reported success despite being OOMKilled"),
    ),
    "succeeded-but-init-oomkilled": (
        pod(
            P,
            phase="Succeeded",
            init_container_statuses=[container_status("init", terminated(0, "OOMKilled"))],
            container_statuses=[container_status(P, terminated(0, "Completed"))],
        ),
        Want(Phase.RETRYABLE_FAILURE, USER, "OOMKilled"),
    ),
    # --- Failed ----------------------------------------------------------------------------------------------
    "failed-oomkilled": (
        pod(P, phase="Failed", container_statuses=[container_status(P, terminated(137, "OOMKilled"))]),
        Want(Phase.RETRYABLE_FAILURE, USER, "OOMKilled", contains=f"[{P}] terminated with exit code (137). Reason [OOMKilled]"),
    ),
    "failed-oomkilled-in-last-state": (
        pod(
            P,
            phase="Failed",
            container_statuses=[container_status(P, terminated(0, "Completed"), last_state=terminated(137, "OOMKilled"))],
        ),
        Want(Phase.RETRYABLE_FAILURE, USER, "OOMKilled"),
    ),
    "failed-sigkill-primary": (
        pod(P, phase="Failed", container_statuses=[container_status(P, terminated(137, "Error"))]),
        Want(Phase.RETRYABLE_FAILURE, SYSTEM, "Interrupted"),
    ),
    "failed-exit-247-primary": (
        pod(P, phase="Failed", container_statuses=[container_status(P, terminated(247, "Error"))]),
        Want(Phase.RETRYABLE_FAILURE, SYSTEM, "Interrupted"),
    ),
    "failed-sigkill-sidecar-only": (
        pod(
            P,
            phase="Failed",
            containers=[P, "sidecar"],
            container_statuses=[container_status(P, terminated(1, "Error")), container_status("sidecar", terminated(137, "Error"))],
        ),
        Want(Phase.RETRYABLE_FAILURE, USER, "Interrupted"),
    ),
    **{
        f"failed-node-{reason}": (
            pod(
                P,
                phase="Failed",
                reason=reason,
                message="Pod was terminated in response to imminent node shutdown.",
                container_statuses=[container_status(P, terminated(143, "Error"))],
            ),
            Want(Phase.RETRYABLE_FAILURE, SYSTEM, "Interrupted", contains="imminent node shutdown"),
        )
        for reason in ("Shutdown", "Terminated", "NodeShutdown", "NodeAffinity")
    },
    "failed-plain-exit-1-no-reason (our fix: USER)": (
        pod(P, phase="Failed", container_statuses=[container_status(P, terminated(1, "Error", "boom"))]),
        Want(
            Phase.RETRYABLE_FAILURE,
            USER,
            "Error",
            contains=f"Pod failed. No message received from kubernetes.\r\n[{P}] terminated with exit code (1). Reason [Error]. Message: \nboom.",
        ),
    ),
    "failed-exit-nonzero-with-its-own-reason": (
        pod(P, phase="Failed", container_statuses=[container_status(P, terminated(128, "ContainerCannotRun"))]),
        Want(Phase.RETRYABLE_FAILURE, USER, "ContainerCannotRun"),
    ),
    "failed-exit-nonzero-without-any-reason": (
        pod(P, phase="Failed", container_statuses=[container_status(P, terminated(2))]),
        Want(Phase.RETRYABLE_FAILURE, USER, "Error"),
    ),
    "failed-nothing-known": (pod(P, phase="Failed"), Want(Phase.RETRYABLE_FAILURE, SYSTEM, "Interrupted")),
    "failed-evicted": (
        pod(P, phase="Failed", reason="Evicted", message="The node was low on resource: memory."),
        Want(Phase.RETRYABLE_FAILURE, USER, "Evicted", contains="low on resource"),
    ),
    # --- Pending ---------------------------------------------------------------------------------------------
    "pending-unschedulable": (
        pod(
            P,
            phase="Pending",
            conditions=[pod_condition("PodScheduled", "False", "Unschedulable", "0/1 nodes are available: 1 Insufficient cpu.")],
        ),
        Want(Phase.QUEUED, reason="Unschedulable:0/1 nodes are available: 1 Insufficient cpu."),
    ),
    "pending-no-conditions": (pod(P, phase="Pending"), Want(Phase.QUEUED, reason="Scheduling")),
    "pending-err-image-pull": (
        waiting_pod("ErrImagePull", "pull access denied"),
        Want(
            Phase.INITIALIZING,
            reason=f"[ContainersNotReady|ErrImagePull]: containers with unready status: [{P}]|pull access denied",
        ),
    ),
    "pending-container-creating": (waiting_pod("ContainerCreating", since=timedelta(hours=5)), Want(Phase.INITIALIZING)),
    "pending-init-pod-initializing": (
        not_ready(container_status(P, waiting("PodInitializing")), init=[container_status("init", waiting("PodInitializing"))]),
        Want(Phase.INITIALIZING, contains="PodInitializing"),
    ),
    "pending-init-container-checked-first": (
        not_ready(container_status(P, waiting("PodInitializing")), init=[container_status("init", waiting("InvalidImageName", "bad"))]),
        Want(Phase.PERMANENT_FAILURE, USER, "ContainersNotReady|InvalidImageName"),
    ),
    "pending-image-pull-backoff-within-grace": (
        waiting_pod("ImagePullBackOff", "Back-off pulling image", since=MIN3 - timedelta(seconds=1)),
        Want(Phase.INITIALIZING),
    ),
    "pending-image-pull-backoff-after-grace": (
        waiting_pod("ImagePullBackOff", "Back-off pulling image", since=MIN3),
        Want(Phase.RETRYABLE_FAILURE, USER, "ContainersNotReady|ImagePullBackOff", contains="Back-off pulling image"),
    ),
    "pending-image-pull-backoff-429-after-grace": (
        waiting_pod("ImagePullBackOff", "unexpected status: 429 Too Many Requests", since=MIN3 + timedelta(seconds=5)),
        Want(Phase.RETRYABLE_FAILURE, SYSTEM, "ContainersNotReady|ImagePullBackOff"),
    ),
    "pending-image-pull-backoff-429-within-grace": (
        waiting_pod("ImagePullBackOff", "unexpected status: 429 Too Many Requests", since=timedelta(seconds=30)),
        Want(Phase.INITIALIZING),
    ),
    "pending-create-container-config-error-immediate": (
        waiting_pod("CreateContainerConfigError", 'secret "x" not found'),
        Want(Phase.PERMANENT_FAILURE, USER, "ContainersNotReady|CreateContainerConfigError", contains='secret "x" not found'),
    ),
    "pending-create-container-error-within-grace": (
        waiting_pod("CreateContainerError", "context deadline exceeded", since=timedelta(minutes=2)),
        Want(Phase.INITIALIZING, contains="CreateContainerError"),
    ),
    "pending-create-container-error-after-grace": (
        waiting_pod("CreateContainerError", "context deadline exceeded", since=MIN3),
        Want(
            Phase.PERMANENT_FAILURE,
            USER,
            "ContainersNotReady|CreateContainerError",
            contains=f"Grace period [3m0s] exceeded|containers with unready status: [{P}]|context deadline exceeded",
        ),
    ),
    "pending-invalid-image-name": (
        waiting_pod("InvalidImageName", 'couldn\'t parse image reference "UPPER"'),
        Want(Phase.PERMANENT_FAILURE, USER, "ContainersNotReady|InvalidImageName"),
    ),
    "pending-unknown-waiting-reason": (
        waiting_pod("SomethingNewInKubelet", "??"),
        Want(Phase.RETRYABLE_FAILURE, SYSTEM, "ContainersNotReady|SomethingNewInKubelet"),
    ),
    "pending-ready-false-without-waiting-containers": (
        not_ready(container_status(P, {"running": {"startedAt": rfc3339(NOW)}})),
        Want(Phase.QUEUED, reason="Scheduling"),
    ),
    # --- Running with the primary annotation -----------------------------------------------------------------
    "running-primary-running": (
        pod(P, phase="Running", container_statuses=[container_status(P, {"running": {"startedAt": rfc3339(NOW)}}, ready=True)]),
        Want(Phase.RUNNING),
    ),
    "running-primary-waiting": (
        pod(P, phase="Running", container_statuses=[container_status(P, waiting("CrashLoopBackOff"))]),
        Want(Phase.RUNNING),
    ),
    "running-primary-exit-0": (
        pod(
            P,
            phase="Running",
            containers=[P, "sidecar"],
            container_statuses=[container_status(P, terminated(0, "Completed")), container_status("sidecar", ready=True)],
        ),
        Want(Phase.SUCCESS),
    ),
    "running-primary-exit-1": (
        pod(P, phase="Running", container_statuses=[container_status(P, terminated(1, "Error", "Traceback"))]),
        Want(Phase.RETRYABLE_FAILURE, USER, "Error", contains=f"\r\n[{P}] terminated with exit code (1). Reason [Error]. Message: \nTraceback."),
    ),
    "running-primary-oomkilled": (
        pod(P, phase="Running", container_statuses=[container_status(P, terminated(137, "OOMKilled"))]),
        Want(Phase.RETRYABLE_FAILURE, USER, "OOMKilled"),
    ),
    "running-primary-sigkill": (
        pod(P, phase="Running", container_statuses=[container_status(P, terminated(137, "Error"))]),
        Want(Phase.RETRYABLE_FAILURE, SYSTEM, "Interrupted"),
    ),
    "running-primary-no-status-but-in-spec": (
        pod(P, phase="Running", containers=[P, "sidecar"], container_statuses=[container_status("sidecar", ready=True)]),
        Want(Phase.RUNNING),
    ),
    "running-primary-not-in-pod": (
        pod(P, phase="Running", primary="main", container_statuses=[container_status(P, ready=True)]),
        Want(Phase.PERMANENT_FAILURE, USER, "PrimaryContainerNotFound"),
    ),
    # --- Running without the annotation ----------------------------------------------------------------------
    "running-no-annotation-all-exit-0": (
        pod(
            P,
            phase="Running",
            primary=None,
            containers=["a", "b"],
            init_container_statuses=[container_status("init", terminated(0, "Completed"))],
            container_statuses=[container_status("a", terminated(0, "Completed")), container_status("b", terminated(0, "Completed"))],
        ),
        Want(Phase.SUCCESS),
    ),
    "running-no-annotation-one-still-running": (
        pod(
            P,
            phase="Running",
            primary=None,
            containers=["a", "b"],
            container_statuses=[container_status("a", terminated(0, "Completed")), container_status("b", ready=True)],
        ),
        Want(Phase.RUNNING),
    ),
    "running-no-annotation-one-failed": (
        pod(
            P,
            phase="Running",
            primary=None,
            containers=["a", "b"],
            container_statuses=[container_status("a", terminated(1, "Error")), container_status("b", ready=True)],
        ),
        Want(Phase.RUNNING),
    ),
    "running-no-annotation-no-statuses": (pod(P, phase="Running", primary=None), Want(Phase.RUNNING)),
    "running-no-annotation-only-init-containers-ended": (
        pod(P, phase="Running", primary=None, init_container_statuses=[container_status("init", terminated(0, "Completed"))]),
        Want(Phase.RUNNING),
    ),
    "running-no-annotation-sidecar-init-container-still-running": (
        pod(
            P,
            phase="Running",
            primary=None,
            init_container_statuses=[container_status("proxy", {"running": {"startedAt": rfc3339(NOW)}})],
            container_statuses=[container_status(P, terminated(0, "Completed"))],
        ),
        Want(Phase.RUNNING),
    ),
    "running-no-annotation-all-exit-0-one-oomkilled": (
        pod(
            P,
            phase="Running",
            primary=None,
            containers=["a", "b"],
            container_statuses=[container_status("a", terminated(0, "Completed")), container_status("b", terminated(0, "OOMKilled"))],
        ),
        Want(Phase.RETRYABLE_FAILURE, USER, "OOMKilled"),
    ),
    # --- Others ----------------------------------------------------------------------------------------------
    "unknown": (pod(P, phase="Unknown"), Want(Phase.UNDEFINED)),
    "unschedulable-pseudo-phase": (pod(P, phase="Unschedulable"), Want(Phase.QUEUED, reason="pod unschedulable")),
}


@pytest.mark.parametrize(("pod_", "want"), list(CASES.values()), ids=list(CASES))
def test_demystify(pod_: dict[str, Any], want: Want) -> None:
    check(demystify(pod_, NOW, Settings()), want)


def test_no_status_at_all_is_pending_scheduling() -> None:
    check(demystify({"metadata": {"name": P}}, NOW, Settings()), Want(Phase.QUEUED, reason="Scheduling"))


class TestGracePeriodsFromSettings:
    def test_image_pull_backoff_grace(self) -> None:
        pod_ = waiting_pod("ImagePullBackOff", "x", since=timedelta(seconds=61))
        check(demystify(pod_, NOW, Settings(image_pull_backoff_grace_seconds=60)), Want(Phase.RETRYABLE_FAILURE, USER))
        check(demystify(pod_, NOW, Settings(image_pull_backoff_grace_seconds=120)), Want(Phase.INITIALIZING))

    def test_create_container_error_grace_in_go_format(self) -> None:
        pod_ = waiting_pod("CreateContainerError", "x", since=timedelta(hours=2))
        info = demystify(pod_, NOW, Settings(create_container_error_grace_seconds=3600))
        check(info, Want(Phase.PERMANENT_FAILURE, USER, contains="Grace period [1h0m0s] exceeded|"))

    def test_create_container_config_error_can_be_given_a_grace(self) -> None:
        pod_ = waiting_pod("CreateContainerConfigError", "x", since=timedelta(seconds=10))
        check(demystify(pod_, NOW, Settings(create_container_config_error_grace_seconds=60)), Want(Phase.INITIALIZING))


class TestPodPendingTimeout:
    def unschedulable(self, since: timedelta) -> dict[str, Any]:
        return pod(P, phase="Pending", conditions=[pod_condition("PodScheduled", "False", "Unschedulable", "no nodes", since=NOW - since)])

    def test_disabled_by_default(self) -> None:
        check(demystify(self.unschedulable(timedelta(days=10)), NOW, Settings()), Want(Phase.QUEUED))

    def test_unschedulable_past_the_timeout_is_a_system_failure(self) -> None:
        info = demystify(self.unschedulable(timedelta(minutes=10)), NOW, Settings(pod_pending_timeout_seconds=300))
        check(info, Want(Phase.RETRYABLE_FAILURE, SYSTEM, "PodPendingTimeout", contains="Unschedulable:no nodes"))

    def test_unschedulable_within_the_timeout_is_queued(self) -> None:
        info = demystify(self.unschedulable(timedelta(minutes=4)), NOW, Settings(pod_pending_timeout_seconds=300))
        check(info, Want(Phase.QUEUED, reason="Unschedulable:no nodes"))

    def test_container_creating_past_the_timeout_is_a_system_failure(self) -> None:
        info = demystify(waiting_pod("ContainerCreating", since=timedelta(minutes=10)), NOW, Settings(pod_pending_timeout_seconds=300))
        check(info, Want(Phase.RETRYABLE_FAILURE, SYSTEM, "PodPendingTimeout"))


def test_system_retryable_flag() -> None:
    system = demystify(CASES["failed-sigkill-primary"][0], NOW, Settings())
    user = demystify(CASES["failed-oomkilled"][0], NOW, Settings())
    permanent = demystify(CASES["pending-invalid-image-name"][0], NOW, Settings())
    running = demystify(CASES["running-primary-running"][0], NOW, Settings())
    assert system.is_system_retryable
    assert not user.is_system_retryable
    assert not permanent.is_system_retryable
    assert not running.is_system_retryable


def test_describe_is_code_in_brackets_then_message() -> None:
    info = demystify(CASES["failed-oomkilled"][0], NOW, Settings())
    assert info.error is not None
    assert info.error.describe() == f"[OOMKilled] {info.error.message}"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (1, "1s"), (45, "45s"), (60, "1m0s"), (90, "1m30s"), (180, "3m0s"), (3600, "1h0m0s"), (3661, "1h1m1s"), (90000, "25h0m0s")],
)
def test_go_duration(seconds: float, expected: str) -> None:
    assert go_duration(seconds) == expected


def test_phase_strings_are_the_go_enum_names() -> None:
    assert [p.value for p in Phase] == [
        "PhaseUndefined",
        "PhaseNotReady",
        "PhaseWaitingForResources",
        "PhaseQueued",
        "PhaseInitializing",
        "PhaseRunning",
        "PhaseSuccess",
        "PhaseRetryableFailure",
        "PhasePermanentFailure",
        "PhaseWaitingForCache",
        "PhaseAborted",
    ]


class TestRecheck:
    """A verdict that only time can change says when: the operator looks again then, not at the next resync."""

    def test_image_pull_backoff_within_its_grace_says_when_the_grace_ends(self) -> None:
        info = demystify(waiting_pod("ImagePullBackOff", "Back-off", since=timedelta(seconds=60)), NOW, Settings())
        assert (info.phase, info.recheck_after) == (Phase.INITIALIZING, pytest.approx(120.0))

    def test_create_container_error_within_its_grace_says_when_the_grace_ends(self) -> None:
        info = demystify(waiting_pod("CreateContainerError", "boom", since=timedelta(seconds=30)), NOW, Settings())
        assert (info.phase, info.recheck_after) == (Phase.INITIALIZING, pytest.approx(150.0))

    def test_pending_timeout_says_when_it_runs_out(self) -> None:
        info = demystify(waiting_pod("ContainerCreating", "", since=timedelta(seconds=100)), NOW, Settings(pod_pending_timeout_seconds=300))
        assert (info.phase, info.recheck_after) == (Phase.INITIALIZING, pytest.approx(200.0))

    def test_nothing_to_wait_for_says_nothing(self) -> None:
        assert demystify(waiting_pod("ContainerCreating", "", since=timedelta(seconds=100)), NOW, Settings()).recheck_after is None


class TestBundleFailures:
    """taskaction-bootstrap's termination messages name the failure (bundles/errors.py)."""

    @staticmethod
    def failed(exit_code: int, message: str, init: bool = True) -> dict[str, Any]:
        statuses = [container_status("taskaction-bootstrap", terminated(exit_code, "Error", message))]
        if init:
            return pod(P, phase="Failed", init_container_statuses=statuses, container_statuses=[container_status(P, waiting("PodInitializing"))])
        return pod(P, phase="Failed", container_statuses=[container_status(P, terminated(exit_code, "Error", message))])

    @pytest.mark.parametrize(
        ("exit_code", "message", "phase", "kind"),
        [
            (10, "BundleNotFound: s3://b/k does not exist", Phase.PERMANENT_FAILURE, USER),
            (11, "BundleChecksumMismatch: sha256 abc != def", Phase.PERMANENT_FAILURE, USER),
            (12, "BundleUnsafe: ../etc/passwd escapes the destination", Phase.PERMANENT_FAILURE, USER),
            (13, "BundleAccessDenied: 403 Forbidden", Phase.PERMANENT_FAILURE, SYSTEM),
            (20, "BundleDownloadFailed: connection reset after 5 tries", Phase.RETRYABLE_FAILURE, SYSTEM),
        ],
    )
    def test_init_container_failure_is_named(self, exit_code: int, message: str, phase: Phase, kind: str) -> None:
        info = demystify(self.failed(exit_code, message), NOW, Settings())
        code, text = message.split(": ", 1)
        assert (info.phase, info.error.code, info.error.kind, info.error.message) == (phase, code, kind, text)

    def test_runtime_image_entrypoint_failure_is_named_too(self) -> None:
        info = demystify(self.failed(11, "BundleChecksumMismatch: x", init=False), NOW, Settings())
        assert info.error.code == "BundleChecksumMismatch"

    def test_a_message_that_does_not_match_its_exit_code_is_not_ours(self) -> None:
        info = demystify(self.failed(1, "BundleNotFound: user code printed this"), NOW, Settings())
        assert info.error.code != "BundleNotFound"
