"""The template's extended resources on the pod, as flyteplugins' flytek8s pod_helper.go applies them after the merge
with the PodTemplate (ApplyFlytePodConfiguration): GPU accelerator selection (ApplyGPUNodeSelectors: a required node
affinity and a NoSchedule toleration for the device and the partition size, the MIG slices label) and shared memory
(ApplySharedMemory: a Memory emptyDir on the primary container). The device names, device classes and node labels are
upstream's config defaults (flytek8s/config/config.go); the two GPU node labels are settings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flyteidl2.core import tasks_pb2

from ..settings import Settings
from .errors import BadTaskSpecification

GPU_PARTITION_SLICES_LABEL = "platform.union.ai/gpu-partition-slices"
_MIG_PARTITION = re.compile(r"^(\d+)g\.\d+gb$")
_QUANTITY = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")

# k8s.accelerator-devices: a device the SDK names -> the node label value nodes are provisioned with.
ACCELERATOR_DEVICES = {
    "A10": "nvidia-a10", "A10G": "nvidia-a10g", "A100": "nvidia-tesla-a100", "A100 80G": "nvidia-a100-80gb",
    "A100G": "nvidia-a100g", "B200": "nvidia-b200", "GB200": "nvidia-gb200", "H100": "nvidia-h100",
    "H100 80G": "nvidia-h100-80gb", "H100 MEGA 80G": "nvidia-h100-mega-80gb", "H200": "nvidia-h200",
    "K80": "nvidia-tesla-k80", "L4": "nvidia-l4", "L40s": "nvidia-l40s", "L4_VWS": "nvidia-l4-vws",
    "M60": "nvidia-tesla-m60", "P4": "nvidia-tesla-p4", "P100": "nvidia-tesla-p100", "RTX PRO 6000": "nvidia-rtx-pro-6000",
    "T4": "nvidia-tesla-t4", "V100": "nvidia-tesla-v100",
    "V5E": "tpu-v5-lite-podslice", "V5P": "tpu-v5p-slice", "V6E": "tpu-v6e-slice",
    "INF1": "aws-neuron-inf1", "INF2": "aws-neuron-inf2", "TRN1": "aws-neuron-trn1", "TRN1N": "aws-neuron-trn1n",
    "TRN2": "aws-neuron-trn2", "TRN2U": "aws-neuron-trn2u",
    "MI100": "amd-mi100", "MI210": "amd-mi210", "MI250": "amd-mi250", "MI250X": "amd-mi250x", "MI300A": "amd-mi300a",
    "MI300X": "amd-mi300x", "MI325X": "amd-mi325x", "MI350X": "amd-mi350x", "MI355X": "amd-mi355x",
    "GAUDI1": "habana-gaudi-dl1",
}  # fmt: skip


@dataclass(frozen=True)
class DeviceClass:
    """k8s.accelerator-device-classes: what a device class overrides of the global GPU config ("" keeps it)."""

    resource_name: str
    device_node_label: str = ""
    partition_size_node_label: str = ""


DEVICE_CLASSES = {
    tasks_pb2.GPUAccelerator.NVIDIA_GPU: DeviceClass("nvidia.com/gpu"),
    tasks_pb2.GPUAccelerator.GOOGLE_TPU: DeviceClass(
        "google.com/tpu", "cloud.google.com/gke-tpu-accelerator", "cloud.google.com/gke-tpu-topology"
    ),
    tasks_pb2.GPUAccelerator.AMAZON_NEURON: DeviceClass("aws.amazon.com/neuron"),
    tasks_pb2.GPUAccelerator.AMD_GPU: DeviceClass("amd.com/gpu"),
    tasks_pb2.GPUAccelerator.HABANA_GAUDI: DeviceClass("habana.ai/gaudi"),
}


def gpu_accelerator(template: tasks_pb2.TaskTemplate) -> tasks_pb2.GPUAccelerator | None:
    resources = template.extended_resources
    return resources.gpu_accelerator if template.HasField("extended_resources") and resources.HasField("gpu_accelerator") else None


def _device_config(accelerator: tasks_pb2.GPUAccelerator | None, settings: Settings) -> DeviceClass:
    """getAcceleratorConfig: the global GPU config, overridden by the device class's non-empty fields."""
    config = DeviceClass(settings.gpu_resource_name, settings.gpu_device_node_label, settings.gpu_partition_size_node_label)
    override = DEVICE_CLASSES.get(accelerator.device_class) if accelerator is not None else None
    if override is not None:
        config = DeviceClass(
            override.resource_name or config.resource_name,
            override.device_node_label or config.device_node_label,
            override.partition_size_node_label or config.partition_size_node_label,
        )
    return config


def gpu_resource_name(accelerator: tasks_pb2.GPUAccelerator | None, settings: Settings) -> str:
    """SanitizeGPUResourceRequirements: the resource a template's GPU count is asked for under."""
    return _device_config(accelerator, settings).resource_name


def _accelerator_resource_names(settings: Settings) -> set[str]:
    return {settings.gpu_resource_name} | {d.resource_name for d in DEVICE_CLASSES.values()}


def _requires_accelerator(spec: dict[str, Any], settings: Settings) -> bool:
    names = _accelerator_resource_names(settings)
    return any(names & set(((ct.get("resources") or {}).get("limits") or {})) for ct in spec.get("containers") or [])


def add_required_node_selector_requirement(spec: dict[str, Any], requirement: dict[str, Any]) -> None:
    """AddRequiredNodeSelectorRequirements: ANDed into every existing term (never twice), or the one term."""
    required = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {}).setdefault("requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        required["nodeSelectorTerms"] = [{"matchExpressions": [requirement]}]
        return
    for term in terms:
        expressions = term.setdefault("matchExpressions", [])
        if requirement not in expressions:
            expressions.append(requirement)


def add_toleration(spec: dict[str, Any], toleration: dict[str, Any]) -> None:
    """addTolerationInPodSpec: added unless an equal one (key, operator, value, effect) is there."""
    fields = ("key", "operator", "value", "effect")
    tolerations = spec.setdefault("tolerations", [])
    if not any(all(t.get(f, "") == toleration.get(f, "") for f in fields) for t in tolerations):
        tolerations.append(toleration)


def _node_requirement(key: str, operator: str, *values: str) -> dict[str, Any]:
    requirement: dict[str, Any] = {"key": key, "operator": operator}
    if values:
        requirement["values"] = list(values)
    return requirement


def _no_schedule(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}


def apply_gpu_node_selectors(spec: dict[str, Any], accelerator: tasks_pb2.GPUAccelerator, settings: Settings) -> None:
    """ApplyGPUNodeSelectors, only for a pod one of whose containers has an accelerator limit."""
    if not _requires_accelerator(spec, settings):
        return
    config = _device_config(accelerator, settings)
    if accelerator.device:
        device = ACCELERATOR_DEVICES.get(accelerator.device.upper(), accelerator.device)
        add_required_node_selector_requirement(spec, _node_requirement(config.device_node_label, "In", device))
        add_toleration(spec, _no_schedule(config.device_node_label, device))
    partition = accelerator.WhichOneof("partition_size_value")
    if partition == "unpartitioned" and accelerator.unpartitioned:
        add_required_node_selector_requirement(spec, _node_requirement(config.partition_size_node_label, "DoesNotExist"))
    elif partition == "partition_size":
        size = accelerator.partition_size
        add_required_node_selector_requirement(spec, _node_requirement(config.partition_size_node_label, "In", size))
        add_toleration(spec, _no_schedule(config.partition_size_node_label, size))


def _mig_slices(accelerator: tasks_pb2.GPUAccelerator) -> str | None:
    """parseMigSlices: the compute slices of a MIG partition size ("3g.20gb" -> "3"), or None."""
    if accelerator.WhichOneof("partition_size_value") != "partition_size":
        return None
    match = _MIG_PARTITION.match(accelerator.partition_size)
    return match.group(1) if match else None


def apply_shared_memory(spec: dict[str, Any], primary: str, shm: tasks_pb2.SharedMemory) -> None:
    """ApplySharedMemory: a Memory emptyDir of the size limit ("0", no limit, when unset) mounted on the primary."""
    if not shm.mount_name:
        raise BadTaskSpecification("mount name is not set")
    if not shm.mount_path:
        raise BadTaskSpecification("mount path is not set")
    container = next((ct for ct in spec.get("containers") or [] if ct.get("name") == primary), None)
    if container is None:
        raise BadTaskSpecification("Unable to find primary container")
    if any(v.get("name") == shm.mount_name for v in spec.get("volumes") or []):
        raise BadTaskSpecification(f"A volume is already named {shm.mount_name} in pod spec")
    for mount in container.get("volumeMounts") or []:
        if mount.get("name") == shm.mount_name:
            raise BadTaskSpecification(f"A volume is already named {shm.mount_name} in container")
        if mount.get("mountPath") == shm.mount_path:
            raise BadTaskSpecification(f"{shm.mount_path} is already mounted in container")
    if shm.size_limit and not _QUANTITY.match(shm.size_limit):
        raise BadTaskSpecification(f"Unable to parse size limit: quantities must match the regular expression {_QUANTITY.pattern!r}")
    spec.setdefault("volumes", []).append({"name": shm.mount_name, "emptyDir": {"medium": "Memory", "sizeLimit": shm.size_limit or "0"}})
    container.setdefault("volumeMounts", []).append({"name": shm.mount_name, "mountPath": shm.mount_path})


def apply_extended_resources(pod: dict[str, Any], template: tasks_pb2.TaskTemplate, primary: str, settings: Settings) -> None:
    """The accelerator's node selectors and tolerations, then the shared memory volume, as upstream orders them."""
    accelerator = gpu_accelerator(template)
    if accelerator is not None:
        apply_gpu_node_selectors(pod["spec"], accelerator, settings)
        # The MIG slices label goes on whether or not a container asks for the GPU, as upstream.
        slices = _mig_slices(accelerator)
        if slices:
            pod["metadata"].setdefault("labels", {})[GPU_PARTITION_SLICES_LABEL] = slices
    if template.HasField("extended_resources") and template.extended_resources.HasField("shared_memory"):
        apply_shared_memory(pod["spec"], primary, template.extended_resources.shared_memory)
