"""Faults on the real control plane (issue 13): a TaskAction made again under the name of one just deleted never
adopts its predecessor's pod, and a pod that can never be scheduled ends with a named reason when the pending
timeout is set.

On a cluster of its own: the first stops the cluster's garbage collector for a while, which must not happen to the
shared cluster under the other runs there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from taskaction_operator.api import constants as c
from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, condition, install_crd, is_true
from tests.support.local_cluster import garbage_collector_paused
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.own_cluster import OwnCluster, own_cluster


@pytest.fixture(scope="module")
def kube() -> Iterator[OwnCluster]:
    with own_cluster("faults") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def crd(kube: OwnCluster) -> None:
    install_crd(kube)


@pytest.fixture(scope="module")
def operator(
    kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    env = {**storage_env, "TASKACTION_POD_PENDING_TIMEOUT_SECONDS": "2", "TASKACTION_MAX_SYSTEM_FAILURES": "1"}
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator-faults") / "operator.log", env) as process:
        yield process


def terminal(obj: dict | None) -> bool:
    return obj is not None and (is_true(obj, "Succeeded") or is_true(obj, "Failed"))


def test_a_recreated_taskaction_runs_its_own_pod_not_its_predecessors(kube: OwnCluster, operator: OperatorProcess, namespace: str) -> None:
    """The predecessor fails; the TaskAction made again at once under its name succeeds. Its predecessor's pod stays
    until the garbage collector removes it (held here, the collector paused); adopting it reported the old failure
    without running anything."""
    run, name = "again", "again-a0"
    template = container_template("busybox", ["true"])
    kube.create(taskaction(template, run=run, namespace=namespace, labels={"sim.taskaction.dev/outcome": "fail"}))
    kube.wait("taskaction", name, namespace, lambda o: is_true(o, "Failed"), "Failed (the predecessor)")
    old_pod = kube.get("pod", f"{name}-0", namespace)
    with garbage_collector_paused(kube.name):
        kube.run("delete", "taskaction", name, "-n", namespace, "--wait=true", "--timeout=20s")
        successor = kube.create(taskaction(template, run=run, namespace=namespace, labels={"sim.taskaction.dev/outcome": "succeed"}))
        # Until the successor decided on the pod it found (the collector is still paused meanwhile).
        kube.wait("taskaction", name, namespace, lambda o: bool((o or {}).get("status", {}).get("phaseHistory")), "reconciled", timeout=5)
    ta = kube.wait("taskaction", name, namespace, terminal, "terminal (the successor)", timeout=60)
    assert is_true(ta, "Succeeded"), (ta["status"].get("errorState"), ta["status"].get("phaseHistory"), operator.log()[-3000:])
    pod = kube.get("pod", f"{name}-0", namespace)
    assert pod is not None and pod["metadata"]["uid"] != old_pod["metadata"]["uid"]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == successor["metadata"]["uid"]


def test_a_pod_that_can_never_be_scheduled_ends_with_the_pending_timeout(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    from tests.unit.builders import k8s_pod_template

    template = k8s_pod_template(
        {"containers": [{"name": "primary", "image": "busybox", "args": ["true"]}], "nodeSelector": {"taskaction.dev/no-such-node": "x"}}
    )
    kube.create(taskaction(template, run="unschedulable", namespace=namespace))
    ta = kube.wait("taskaction", "unschedulable-a0", namespace, lambda o: is_true(o, "Failed"), "Failed", timeout=60)
    error = ta["status"]["errorState"]
    assert (error["code"], error["kind"]) == (c.CODE_MAX_SYSTEM_FAILURES, "SYSTEM"), error
    assert "PodPendingTimeout" in error["message"] and "Unschedulable" in error["message"], error
    assert condition(ta, "Failed")["reason"] == "PermanentFailure"
    queued = [h["message"] for h in ta["status"]["phaseHistory"] if h["phase"] == "Queued"]
    assert any("Unschedulable" in (message or "") for message in queued), ta["status"]["phaseHistory"]
