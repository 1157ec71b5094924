"""Merge a task's pod onto a base PodTemplate, as flyteplugins' MergeWithBasePodTemplate does.

The PodTemplate's spec is the base and the task's pod spec is merged over it (non-empty values override, lists are
appended). Containers are special: a template container named `default` is the base of every container, one named
`primary` the base of the primary container (over `default`); `default-init` / `primary-init` likewise for init
containers. Labels and annotations of the template are the base of the pod's.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

@dataclass(frozen=True)
class PodTemplateLookup:
    """The PodTemplate named `name`, as found in the task's namespace or the fallback one, or None."""

    name: str
    found: dict[str, Any] | None


DEFAULT = "default"
PRIMARY = "primary"


def _is_zero(value: Any) -> bool:
    return value is None or value == "" or value == 0 or value is False or value == {} or value == []


def merge(base: Any, override: Any) -> Any:
    """mergo.Merge(base, override, WithOverride, WithAppendSlice) on JSON-shaped values."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            if _is_zero(value) and key in merged:
                continue
            merged[key] = merge(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list):
        return copy.deepcopy(base) + copy.deepcopy(override)
    return copy.deepcopy(base) if _is_zero(override) else copy.deepcopy(override)


def _merge_containers(
    templates: list[dict[str, Any]], containers: list[dict[str, Any]], primary: str | None, default_name: str, primary_name: str
) -> list[dict[str, Any]]:
    by_name = {t.get("name"): t for t in templates}
    merged = []
    for container in containers:
        result: dict[str, Any] = copy.deepcopy(by_name.get(default_name) or {})
        if container.get("name") == primary and primary_name in by_name:
            result = merge(result, by_name[primary_name])
        result = merge(result, container)
        result["name"] = container["name"]
        merged.append(result)
    return merged


def merge_onto_template(pod_template: dict[str, Any], pod: dict[str, Any], primary: str | None) -> dict[str, Any]:
    """`pod_template` is a v1 PodTemplate object; `pod` the pod built from the task. Returns a new pod."""
    template = pod_template.get("template") or {}
    base_spec = copy.deepcopy(template.get("spec") or {})
    base_containers = base_spec.pop("containers", []) or []
    base_init = base_spec.pop("initContainers", []) or []
    task_spec = copy.deepcopy(pod["spec"])
    containers = task_spec.pop("containers", []) or []
    init_containers = task_spec.pop("initContainers", []) or []
    spec = merge(base_spec, task_spec)
    spec["containers"] = _merge_containers(base_containers, containers, primary, DEFAULT, PRIMARY)
    if init_containers:
        spec["initContainers"] = _merge_containers(base_init, init_containers, None, f"{DEFAULT}-init", f"{PRIMARY}-init")
    base_meta = template.get("metadata") or {}
    meta = copy.deepcopy(pod["metadata"])
    meta["labels"] = {**(base_meta.get("labels") or {}), **(meta.get("labels") or {})}
    meta["annotations"] = {**(base_meta.get("annotations") or {}), **(meta.get("annotations") or {})}
    return {**pod, "metadata": meta, "spec": spec}
