"""Check that a pod spec from a task (a k8s_pod target, a PodTemplate) has the JSON shape of a Kubernetes PodSpec
before anything reads it, so a wrong shape ends as InvalidSpec naming the field instead of an error deep inside
the pod builder. The shapes are the Kubernetes client's OpenAPI model types (written out in podspec_types.py);
unknown fields are left to the API server, as are values (a name that is not DNS-1123, a quantity that does not
parse)."""

from __future__ import annotations

import re
from typing import Any

from flyteidl2.core import tasks_pb2
from google.protobuf.json_format import MessageToDict

from .podspec_types import TYPES

_LIST = re.compile(r"^list\[(.+)\]$")
_DICT = re.compile(r"^dict\(str, (.+)\)$")
_JSON_NAMES = {type(None): "null", bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "object"}


def _json_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def _problem(path: str, wanted: str, value: Any) -> str:
    return f"{path}: expected {wanted}, got {_json_name(value)}"


def _check(value: Any, type_: str, path: str, *, nullable: bool = True) -> str | None:
    """A field may be null (unset); an item of a list or a map may not."""
    if value is None and not nullable:
        return _problem(path, "a value", value)
    if value is None or type_ in ("object", "datetime"):
        return None
    if (match := _LIST.match(type_)) is not None:
        if not isinstance(value, list):
            return _problem(path, "a list", value)
        for i, item in enumerate(value):
            if (problem := _check(item, match.group(1), f"{path}[{i}]", nullable=False)) is not None:
                return problem
        return None
    if (match := _DICT.match(type_)) is not None:
        if not isinstance(value, dict):
            return _problem(path, "an object", value)
        # Maps of strings hold quantities too (resources), which Kubernetes also takes as JSON numbers.
        item_type = "quantity" if match.group(1) == "str" else match.group(1)
        for key, item in value.items():
            if (problem := _check(item, item_type, f"{path}.{key}", nullable=False)) is not None:
                return problem
        return None
    if type_ == "quantity":
        return None if isinstance(value, (str, int, float)) and not isinstance(value, bool) else _problem(path, "a string", value)
    if type_ == "str":
        return None if isinstance(value, str) else _problem(path, "a string", value)
    if type_ == "bool":
        return None if isinstance(value, bool) else _problem(path, "a boolean", value)
    if type_ == "int":
        integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        return None if integral and not isinstance(value, bool) else _problem(path, "an integer", value)
    if type_ == "float":
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else _problem(path, "a number", value)
    if not isinstance(value, dict):
        return _problem(path, "an object", value)
    fields = TYPES[type_]
    for key, item in value.items():
        if key in fields and (problem := _check(item, fields[key], f"{path}.{key}")) is not None:
            return problem
    return None


def pod_spec_problem(spec: Any, path: str) -> str | None:
    """The first field of `spec` whose JSON shape is not a PodSpec's, as `<path>.containers[0].env: expected a
    list, got string`, or None."""
    return _check(spec, "V1PodSpec", path)


def k8s_pod_problem(template: tasks_pb2.TaskTemplate) -> str | None:
    """The first misshapen field of a k8s_pod target's pod spec (a free-form Struct; its metadata is typed), or None."""
    if not template.HasField("k8s_pod") or not template.k8s_pod.HasField("pod_spec"):
        return None
    return pod_spec_problem(MessageToDict(template.k8s_pod.pod_spec), "taskTemplate.k8sPod.podSpec")
