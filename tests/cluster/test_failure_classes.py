"""Failure classes of the Flyte contract on the real control plane: ImagePullBackOff past its grace, a pod deleted
behind the operator's back, a pod the API server refuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, condition, is_true, progressing_reason
from tests.support.operator_process import OperatorProcess, running_operator


@pytest.fixture(scope="module")
def operator(
    kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """Graces shortened from 3 minutes to 2 seconds so the test does not wait for them."""
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator-failures") / "operator.log", {**storage_env, "TASKACTION_IMAGE_PULL_BACKOFF_GRACE_SECONDS": "2"}) as process:
        yield process


def test_image_pull_backoff_is_initializing_then_a_user_failure(kube: Kube, operator, namespace: str) -> None:
    kube.create(
        taskaction(
            container_template("registry.invalid/nope:1", ["true"]),
            run="run-pull",
            namespace=namespace,
            labels={"sim.taskaction.dev/outcome": "imagepullbackoff"},
        )
    )
    ta = kube.wait("taskaction", "run-pull-a0", namespace, lambda o: is_true(o, "Failed"), "Failed", timeout=60)
    phases = [h["phase"] for h in ta["status"]["phaseHistory"]]
    assert "Initializing" in phases, phases
    error = ta["status"]["errorState"]
    assert (error["code"], error["kind"]) == ("ContainersNotReady|ImagePullBackOff", "USER")
    assert error["message"].startswith("Grace period [2s] exceeded|")


def test_a_pod_deleted_externally_is_a_system_failure_and_the_attempt_starts_over(kube: Kube, operator, namespace: str) -> None:
    kube.create(taskaction(container_template("busybox", ["true"]), run="run-lost", namespace=namespace, labels={"sim.taskaction.dev/outcome": "running"}))
    first = kube.wait("pod", "run-lost-a0-0", namespace, lambda o: o is not None and o["status"].get("phase") == "Running", "Running")
    kube.delete("pod", "run-lost-a0-0", namespace)
    second = kube.wait(
        "pod", "run-lost-a0-0", namespace, lambda o: o is not None and o["metadata"]["uid"] != first["metadata"]["uid"], "re-created"
    )
    assert second["metadata"]["labels"]["attempt"] == "1"
    ta = kube.wait("taskaction", "run-lost-a0", namespace, lambda o: progressing_reason(o) == "Executing", "Executing again")
    lost = [h["message"] for h in ta["status"]["phaseHistory"] if h["phase"] == "RetryableFailure"]
    assert lost and ("UnexpectedObjectDeletion" in lost[0] or "ResourceDeletedExternally" in lost[0]), ta["status"]["phaseHistory"]
    assert ta["status"]["errorState"]["kind"] == "SYSTEM"
    assert ta["status"]["attempts"] == 1  # system failures do not consume attempts
    assert ta["status"]["systemFailures"] == 1  # counted per attempt: not reset by the new pod running


def test_a_pod_the_api_server_refuses_is_a_permanent_invalid_resource(kube: Kube, operator, namespace: str) -> None:
    kube.create(taskaction(container_template("busybox", ["true"], env={"not a valid=name": "x"}), run="run-invalid", namespace=namespace))
    ta = kube.wait("taskaction", "run-invalid-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    assert condition(ta, "Failed")["reason"] == "PermanentFailure"
    assert (ta["status"]["errorState"]["code"], ta["status"]["errorState"]["kind"]) == ("InvalidResource", "USER")
    assert kube.get("pod", "run-invalid-a0-0", namespace) is None


@pytest.mark.parametrize(
    ("exit_code", "code", "kind"),
    [
        (10, "BundleNotFound", "USER"),
        (11, "BundleChecksumMismatch", "USER"),
        (12, "BundleUnsafe", "USER"),
        (13, "BundleAccessDenied", "SYSTEM"),
        (14, "BundleCommandNotFound", "USER"),
    ],
)
def test_a_bundle_failure_is_named_in_the_error_state(kube: Kube, operator, namespace: str, exit_code: int, code: str, kind: str) -> None:
    """The pod fails as taskaction-bootstrap makes it fail: its exit code and its termination message."""
    run = f"run-bundle-{exit_code}"
    annotations = {"sim.taskaction.dev/exit-code": str(exit_code), "sim.taskaction.dev/message": f"{code}: s3://flyte-data/b.tar.gz: details"}
    kube.create(
        taskaction(container_template("busybox", ["true"]), run=run, namespace=namespace, labels={"sim.taskaction.dev/outcome": "fail"}, annotations=annotations)
    )
    ta = kube.wait("taskaction", f"{run}-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    assert ta["status"]["errorState"] == {"code": code, "kind": kind, "message": "s3://flyte-data/b.tar.gz: details"}
    assert ta["status"]["attempts"] == 1 and not ta["status"].get("systemFailures")


def test_a_bundle_download_failure_is_a_system_failure_retried_to_the_limit(kube: Kube, operator, namespace: str) -> None:
    annotations = {"sim.taskaction.dev/exit-code": "20", "sim.taskaction.dev/message": "BundleDownloadFailed: connection reset (5 tries)"}
    kube.create(
        taskaction(container_template("busybox", ["true"]), run="run-dl", namespace=namespace, labels={"sim.taskaction.dev/outcome": "fail"}, annotations=annotations)
    )
    ta = kube.wait("taskaction", "run-dl-a0", namespace, lambda o: is_true(o, "Failed"), "Failed", timeout=90)
    assert ta["status"]["errorState"]["code"] == "MaxSystemFailuresExceeded"
    assert "BundleDownloadFailed" in ta["status"]["errorState"]["message"]
    system_retries = [h for h in ta["status"]["phaseHistory"] if h["phase"] == "RetryableFailure"]
    assert len(system_retries) == 3 and ta["status"]["attempts"] == 1


def test_a_task_past_its_timeout_is_ended_with_a_named_reason(kube: Kube, operator, namespace: str) -> None:
    """kwok has no kubelet to honour activeDeadlineSeconds: the operator ends the attempt itself."""
    template = container_template("busybox", ["sleep", "3600"], retries=1)
    template.metadata.timeout.seconds = 3
    kube.create(taskaction(template, run="run-slow", namespace=namespace, labels={"sim.taskaction.dev/outcome": "running"}))
    first = kube.wait("pod", "run-slow-a0-0", namespace, lambda o: o is not None and o["status"].get("phase") == "Running", "Running")
    assert first["spec"]["activeDeadlineSeconds"] == 3
    ta = kube.wait("taskaction", "run-slow-a0", namespace, lambda o: is_true(o, "Failed"), "Failed", timeout=60)
    assert (ta["status"]["errorState"]["code"], ta["status"]["errorState"]["kind"]) == ("TaskTimedOut", "USER")
    assert ta["status"]["attempts"] == 2  # the retry timed out too
    for name in ("run-slow-a0-0", "run-slow-a0-1"):
        kube.wait("pod", name, namespace, lambda o: o is None, "deleted at its deadline")
