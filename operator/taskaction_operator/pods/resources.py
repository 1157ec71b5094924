"""Requests and limits of a task's primary container, as flyteplugins' flytek8s container_helper.go sets them
(MergeExistingResources, then ApplyResourceOverrides with the platform defaults): cpu and memory always requested and
limited, a missing limit the request, a request clamped to its limit, zero quantities dropped, GPU renamed."""

from __future__ import annotations

from typing import Any

from flyteidl2.core import tasks_pb2

from ..api.decoding import SpecError
from ..settings import Settings
from .quantity import parse_quantity


def quantity_value(value: str) -> float:
    """A Kubernetes quantity as a number, for comparing a request with a limit (checked by `_checked` before)."""
    return float(parse_quantity(value))


def _checked(quantity: str, field: str) -> str:
    """The quantity, or InvalidSpec naming the field when the API server would refuse it (ToK8sResourceList's
    "Failed to parse resource as a valid quantity")."""
    try:
        parse_quantity(quantity)
    except ValueError as exc:
        raise SpecError(f"{field}: failed to parse resource as a valid quantity: {exc}") from exc
    return quantity


_RESOURCE_NAMES = {
    tasks_pb2.Resources.CPU: "cpu",
    tasks_pb2.Resources.MEMORY: "memory",
    tasks_pb2.Resources.EPHEMERAL_STORAGE: "ephemeral-storage",
}


def _is_zero(quantity: str) -> bool:
    return parse_quantity(quantity) == 0


def _defaulted(requests: dict[str, str], limits: dict[str, str], settings: Settings) -> dict[str, dict[str, str]]:
    """AdjustOrDefaultResource for cpu and memory (always: their defaults when neither is set) and for every other
    resource named in either (GPU, ephemeral storage): request = request or limit (or default); limit = limit or
    request; request clamped to limit. The SDK puts GPU and disk in requests only, and Kubernetes refuses an extended
    resource (a GPU) without a limit equal to its request."""
    requests, limits = dict(requests), dict(limits)
    defaults = {"cpu": settings.default_cpu, "memory": settings.default_memory}
    for name in {**defaults, **requests, **limits}:
        requests[name] = requests.get(name) or limits.get(name) or defaults[name]
        limits[name] = limits.get(name) or requests[name]
        if quantity_value(requests[name]) > quantity_value(limits[name]):
            requests[name] = limits[name]
    return {"requests": requests, "limits": limits}


def resources(
    template_resources: tasks_pb2.Resources | None, settings: Settings, gpu_name: str | None = None
) -> dict[str, dict[str, str]]:
    """Requests and limits always set for cpu and memory (MergeExistingResources with platform defaults); a GPU count
    under `gpu_name` (the accelerator's device class's resource), else the configured GPU resource."""
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if template_resources is not None:
        for kind, source, target in (("requests", template_resources.requests, requests), ("limits", template_resources.limits, limits)):
            for entry in source:
                name = tasks_pb2.Resources.ResourceName.Name(entry.name)
                if not entry.value or _is_zero(_checked(entry.value, f"taskTemplate.container.resources.{kind}[{name}]")):
                    continue
                if entry.name == tasks_pb2.Resources.GPU:
                    target[gpu_name or settings.gpu_resource_name] = entry.value
                elif entry.name in _RESOURCE_NAMES:
                    target[_RESOURCE_NAMES[entry.name]] = entry.value
    return _defaulted(requests, limits, settings)


def own_resources(existing: dict[str, Any] | None, settings: Settings, field: str, gpu_name: str | None = None) -> dict[str, dict[str, str]]:
    """A k8s_pod primary container's own resources (the SDK merged the template's into it), defaulted; a plain `gpu`
    renamed to `gpu_name` (else the configured GPU resource), as SanitizeGPUResourceRequirements does."""
    existing = existing or {}
    gpu = gpu_name or settings.gpu_resource_name

    def nonzero(kind: str) -> dict[str, str]:
        quantities = {name: _checked(str(value), f"{field}.{kind}.{name}") for name, value in (existing.get(kind) or {}).items()}
        return {(gpu if name == "gpu" else name): quantity for name, quantity in quantities.items() if not _is_zero(quantity)}

    return _defaulted(nonzero("requests"), nonzero("limits"), settings)
