"""TASKACTION_POD_CREATE_QPS: a burst of TaskActions gets its pods no faster than the limit."""

from __future__ import annotations

from pathlib import Path

from taskaction_operator.api.times import parse_time
from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, is_true
from tests.support.operator_process import running_operator

COUNT = 10
QPS = 4.0


def test_pod_creates_are_spread_by_the_limit(kube: Kube, crd: None, namespace: str, tmp_path: Path) -> None:
    env = {"TASKACTION_POD_CREATE_QPS": str(QPS), "TASKACTION_POD_CREATE_BURST": "1", "TASKACTION_READ_OUTPUTS": "false"}
    template = container_template("busybox", ["true"])
    with running_operator(kube, namespace, tmp_path / "operator.log", env):
        for i in range(COUNT):
            kube.create(taskaction(template, run=f"rate-{i}", namespace=namespace))
        for i in range(COUNT):
            kube.wait("taskaction", f"rate-{i}-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded", timeout=90)
        created = sorted(parse_time(p["metadata"]["creationTimestamp"]) for p in kube.list("pods", namespace, "flyte.org/managed=true"))
    assert len(created) == COUNT
    # COUNT - 1 intervals of 1/QPS s at least (creationTimestamp has whole seconds: one less).
    assert (created[-1] - created[0]).total_seconds() >= (COUNT - 1) / QPS - 1, created
