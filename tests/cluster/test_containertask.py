"""A ContainerTask's pod on the real API server: its CoPilot (an uploader sidecar, a downloader, their emptyDirs) is
accepted as built (a native sidecar needs Kubernetes 1.29, or 1.28 with SidecarContainers). That it fetches and
uploads is e2e/copilot_check.py, with the real flyte-copilot."""

from __future__ import annotations

from taskaction_operator.client.manifests import taskaction
from tests.support.kube import Kube
from tests.unit.builders import container_task


def test_the_pod_of_a_container_task_is_accepted_with_its_copilot(kube: Kube, operator, namespace: str) -> None:
    kube.create(taskaction(container_task(storage="1Gi"), run="ctask", namespace=namespace))
    pod = kube.wait("pod", "ctask-a0-0", namespace, lambda o: o is not None, "created")
    init = pod["spec"]["initContainers"]
    assert [(c["name"], c.get("restartPolicy")) for c in init] == [("flyte-copilot-uploader", "Always"), ("flyte-copilot-downloader", None)]
    assert {v["name"]: v["emptyDir"] for v in pod["spec"]["volumes"] if v["name"].startswith("flyte-")} == {
        "flyte-inputs": {"sizeLimit": "1Gi"},
        "flyte-outputs": {"sizeLimit": "1Gi"},
    }
    assert pod["spec"]["terminationGracePeriodSeconds"] == 3600
