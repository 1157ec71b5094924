"""Requests and limits of a task's primary container, as flyteplugins' flytek8s container_helper.go sets them
(MergeExistingResources, then ApplyResourceOverrides with the platform defaults): cpu and memory always requested and
limited, a missing limit the request, a request clamped to its limit, zero quantities dropped, GPU renamed."""

from __future__ import annotations

import re
from typing import Any

from flyteidl2.core import tasks_pb2

from ..settings import Settings

_QUANTITY_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)")
_QUANTITY_SUFFIXES = {
    "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


def quantity_value(value: str) -> float:
    """A Kubernetes quantity as a number, for comparing a request with a limit."""
    match = _QUANTITY_NUMBER.match(value.strip())
    if not match:
        return 0.0
    suffix = value.strip()[match.end():]
    return float(match.group(0)) * _QUANTITY_SUFFIXES.get(suffix, 1)


_RESOURCE_NAMES = {
    tasks_pb2.Resources.CPU: "cpu",
    tasks_pb2.Resources.MEMORY: "memory",
    tasks_pb2.Resources.EPHEMERAL_STORAGE: "ephemeral-storage",
}


def _is_zero(quantity: str) -> bool:
    match = _QUANTITY_NUMBER.match(quantity.strip())
    return bool(match) and float(match.group(0)) == 0


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
        for source, target in ((template_resources.requests, requests), (template_resources.limits, limits)):
            for entry in source:
                if not entry.value or _is_zero(entry.value):
                    continue
                if entry.name == tasks_pb2.Resources.GPU:
                    target[gpu_name or settings.gpu_resource_name] = entry.value
                elif entry.name in _RESOURCE_NAMES:
                    target[_RESOURCE_NAMES[entry.name]] = entry.value
    return _defaulted(requests, limits, settings)


def own_resources(existing: dict[str, Any] | None, settings: Settings, gpu_name: str | None = None) -> dict[str, dict[str, str]]:
    """A k8s_pod primary container's own resources (the SDK merged the template's into it), defaulted; a plain `gpu`
    renamed to `gpu_name` (else the configured GPU resource), as SanitizeGPUResourceRequirements does."""
    existing = existing or {}
    gpu = gpu_name or settings.gpu_resource_name

    def cleaned(quantities: dict[str, Any] | None) -> dict[str, str]:
        return {(gpu if k == "gpu" else k): str(v) for k, v in (quantities or {}).items() if not _is_zero(str(v))}

    return _defaulted(cleaned(existing.get("requests")), cleaned(existing.get("limits")), settings)
