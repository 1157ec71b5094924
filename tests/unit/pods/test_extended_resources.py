"""The template's extended resources on the pod (flytek8s pod_helper.go ApplyGPUNodeSelectors, ApplySharedMemory), as
the Flyte SDK writes them: `Resources(gpu="A100:1")`, `gpu=flyte.GPU(device="A100", quantity=1, partition="1g.5gb")`,
`shm="auto"` / `shm="2Gi"`."""

from __future__ import annotations

from typing import Any

import pytest
from flyteidl2.core import tasks_pb2

from taskaction_operator.api.models import TaskAction
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.pods.errors import BadTaskSpecification
from taskaction_operator.settings import Settings

from ..builders import k8s_pod_template, spec, task_template, taskaction
from .pod_builders import make

GPU = tasks_pb2.Resources.GPU
DEVICE_LABEL = "k8s.amazonaws.com/accelerator"
PARTITION_LABEL = "k8s.amazonaws.com/gpu-partition-size"


def gpu_template(device: str = "A100", *, count: str = "1", partition: str | None = None, unpartitioned: bool = False,
                 device_class: int = tasks_pb2.GPUAccelerator.NVIDIA_GPU) -> tasks_pb2.TaskTemplate:  # fmt: skip
    template = task_template(requests={GPU: count})
    accelerator = template.extended_resources.gpu_accelerator
    accelerator.device = device
    accelerator.device_class = device_class
    if partition is not None:
        accelerator.partition_size = partition
    if unpartitioned:
        accelerator.unpartitioned = True
    return template


def required_terms(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]


class TestGpuAccelerator:
    def test_device_selects_nodes_and_tolerates_their_taint(self) -> None:
        pod = make(gpu_template("A100"))
        assert required_terms(pod) == [{"matchExpressions": [{"key": DEVICE_LABEL, "operator": "In", "values": ["nvidia-tesla-a100"]}]}]
        assert pod["spec"]["tolerations"] == [{"key": DEVICE_LABEL, "operator": "Equal", "value": "nvidia-tesla-a100", "effect": "NoSchedule"}]
        assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"

    def test_a_device_not_in_the_table_is_used_as_it_is(self) -> None:
        pod = make(gpu_template("my-gpu"))
        assert required_terms(pod)[0]["matchExpressions"][0]["values"] == ["my-gpu"]

    def test_device_lookup_ignores_case(self) -> None:
        assert required_terms(make(gpu_template("h100")))[0]["matchExpressions"][0]["values"] == ["nvidia-h100"]

    def test_partition_size_selects_tolerates_and_labels_mig_slices(self) -> None:
        pod = make(gpu_template("A100", partition="1g.5gb"))
        expressions = required_terms(pod)[0]["matchExpressions"]
        assert expressions[1] == {"key": PARTITION_LABEL, "operator": "In", "values": ["1g.5gb"]}
        assert {"key": PARTITION_LABEL, "operator": "Equal", "value": "1g.5gb", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
        assert pod["metadata"]["labels"]["platform.union.ai/gpu-partition-slices"] == "1"

    def test_a_partition_that_is_no_mig_profile_gets_no_slices_label(self) -> None:
        pod = make(gpu_template("A100", partition="half"))
        assert "platform.union.ai/gpu-partition-slices" not in pod["metadata"]["labels"]

    def test_unpartitioned_asks_for_nodes_without_the_partition_label(self) -> None:
        pod = make(gpu_template("A100", unpartitioned=True))
        assert required_terms(pod)[0]["matchExpressions"][1] == {"key": PARTITION_LABEL, "operator": "DoesNotExist"}
        assert len(pod["spec"]["tolerations"]) == 1

    def test_no_gpu_limit_means_no_selection_but_the_slices_label(self) -> None:
        template = gpu_template("A100", partition="2g.10gb")
        template.container.resources.ClearField("requests")
        pod = make(template)
        assert "affinity" not in pod["spec"] and "tolerations" not in pod["spec"]
        assert pod["metadata"]["labels"]["platform.union.ai/gpu-partition-slices"] == "2"

    def test_device_class_names_the_resource_and_its_labels(self) -> None:
        pod = make(gpu_template("V5E", count="4", partition="2x2", device_class=tasks_pb2.GPUAccelerator.GOOGLE_TPU))
        resources = pod["spec"]["containers"][0]["resources"]
        assert resources["requests"]["google.com/tpu"] == resources["limits"]["google.com/tpu"] == "4"
        assert "nvidia.com/gpu" not in resources["limits"]
        assert required_terms(pod)[0]["matchExpressions"] == [
            {"key": "cloud.google.com/gke-tpu-accelerator", "operator": "In", "values": ["tpu-v5-lite-podslice"]},
            {"key": "cloud.google.com/gke-tpu-topology", "operator": "In", "values": ["2x2"]},
        ]

    def test_a_plain_gpu_of_a_pod_spec_is_the_device_class_resource(self) -> None:
        template = k8s_pod_template({"containers": [{"name": "primary", "image": "i", "resources": {"limits": {"gpu": "2"}}}]})
        template.extended_resources.gpu_accelerator.CopyFrom(tasks_pb2.GPUAccelerator(device="MI300X", device_class=tasks_pb2.GPUAccelerator.AMD_GPU))
        pod = make(template)
        resources = pod["spec"]["containers"][0]["resources"]
        assert resources["limits"]["amd.com/gpu"] == resources["requests"]["amd.com/gpu"] == "2" and "gpu" not in resources["limits"]
        assert required_terms(pod)[0]["matchExpressions"] == [{"key": DEVICE_LABEL, "operator": "In", "values": ["amd-mi300x"]}]

    def test_node_labels_from_settings(self) -> None:
        settings = Settings(gpu_device_node_label="gpu.example.com/model", gpu_partition_size_node_label="gpu.example.com/mig")
        pod = make(gpu_template("T4", partition="3g.20gb"), settings=settings)
        keys = [e["key"] for e in required_terms(pod)[0]["matchExpressions"]]
        assert keys == ["gpu.example.com/model", "gpu.example.com/mig"]
        assert pod["metadata"]["labels"]["platform.union.ai/gpu-partition-slices"] == "3"

    def test_requirements_are_anded_into_every_term_of_a_pod_template(self) -> None:
        """Applied after the PodTemplate merge: each of its OR'd terms gets the device requirement (once)."""
        node_affinity = {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]},
                    {"matchExpressions": [{"key": DEVICE_LABEL, "operator": "In", "values": ["nvidia-tesla-a100"]}]},
                ]
            }
        }
        pod_template = {"template": {"spec": {"affinity": {"nodeAffinity": node_affinity}, "containers": []}}}
        template = gpu_template("A100")
        pod = build_pod(TaskAction.model_validate(taskaction(spec_=spec(template))), template, 1, Settings(), pod_template)
        terms = required_terms(pod)
        device = {"key": DEVICE_LABEL, "operator": "In", "values": ["nvidia-tesla-a100"]}
        assert [t["matchExpressions"].count(device) for t in terms] == [1, 1]
        assert len(terms[0]["matchExpressions"]) == 2


class TestSharedMemory:
    def shm_template(self, size: str = "", *, name: str = "flyte-shm", path: str = "/dev/shm") -> tasks_pb2.TaskTemplate:
        template = task_template()
        shm = template.extended_resources.shared_memory
        shm.mount_name, shm.mount_path, shm.size_limit = name, path, size
        return template

    def test_a_memory_empty_dir_on_the_primary_at_dev_shm(self) -> None:
        pod = make(self.shm_template("2Gi"))
        assert pod["spec"]["volumes"][-1] == {"name": "flyte-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}}
        assert pod["spec"]["containers"][0]["volumeMounts"][-1] == {"name": "flyte-shm", "mountPath": "/dev/shm"}

    def test_auto_has_no_size_limit(self) -> None:
        """shm="auto" is an empty size limit; upstream sets the zero quantity, which the kubelet takes as no limit."""
        assert make(self.shm_template(""))["spec"]["volumes"][-1]["emptyDir"] == {"medium": "Memory", "sizeLimit": "0"}

    def test_only_the_primary_of_a_pod_gets_it(self) -> None:
        template = k8s_pod_template({"containers": [{"name": "primary", "image": "i"}, {"name": "side", "image": "j"}]})
        shm = template.extended_resources.shared_memory
        shm.mount_name, shm.mount_path = "flyte-shm", "/dev/shm"
        primary, side = make(template)["spec"]["containers"]
        assert primary["volumeMounts"] == [{"name": "flyte-shm", "mountPath": "/dev/shm"}]
        assert "volumeMounts" not in side

    @pytest.mark.parametrize(
        ("template_kwargs", "pod_spec", "message"),
        [
            ({"name": ""}, None, "mount name is not set"),
            ({"path": ""}, None, "mount path is not set"),
            ({"size": "lots"}, None, "Unable to parse size limit"),
            ({}, {"volumes": [{"name": "flyte-shm", "emptyDir": {}}]}, "A volume is already named flyte-shm in pod spec"),
            ({}, {"mounts": [{"name": "x", "mountPath": "/dev/shm"}]}, "/dev/shm is already mounted in container"),
        ],
    )
    def test_refusals_are_bad_task_specifications(self, template_kwargs: dict, pod_spec: dict | None, message: str) -> None:
        template = self.shm_template(**template_kwargs)
        if pod_spec is not None:
            container = {"name": "primary", "image": "i", "volumeMounts": pod_spec.get("mounts", [])}
            template = k8s_pod_template({"containers": [container], "volumes": pod_spec.get("volumes", [])})
            template.extended_resources.shared_memory.CopyFrom(self.shm_template(**template_kwargs).extended_resources.shared_memory)
        with pytest.raises(BadTaskSpecification, match=message):
            make(template)
