"""The operator's view of the cluster: the latest TaskActions and managed pods seen on the watches, slimmed.

An entry is replaced only by a newer resourceVersion, so a write's response (stored at once) is never rolled
back by the watch event of an older version still on its way.
"""

from __future__ import annotations

from typing import Any

from ..api import constants as c
from ..pods.builder import NOT_COPIED_ANNOTATIONS

Key = tuple[str, str]


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def _version(obj: dict[str, Any]) -> int:
    try:
        return int(obj["metadata"].get("resourceVersion") or 0)
    except ValueError:
        return 0


# What a finished TaskAction still needs once its terminal labels are written (everything reported, nothing left to
# run): the terminal short-circuit, the abort on delete, a child's parent check and the phase gauge read no more.
_FINISHED_METADATA = ("name", "namespace", "uid", "resourceVersion", "labels", "finalizers", "deletionTimestamp", "ownerReferences", "creationTimestamp")
_FINISHED_SPEC = ("runName", "actionName", "parentActionName", "actionType")
_FINISHED_STATUS = ("conditions", "pluginPhase", "attempts")
# What the pod-status mapping reads of a pod's spec (the primary container must exist).
_POD_SPEC = ("nodeName", "hostname")


def _only(mapping: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: mapping[k] for k in keys if mapping and k in mapping}


def _finished(obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(c.LABEL_TERMINATION_STATUS) == c.LABEL_VALUE_TERMINATED and bool(labels.get(c.LABEL_COMPLETED_TIME))


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what the operator never reads and what costs memory: managedFields, kubectl's applied copy; of a pod,
    its spec but the container names; of a finished TaskAction, all but what is read of it once finished (its
    terminal labels mean everything was recorded and reported)."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations and NOT_COPIED_ANNOTATIONS.intersection(annotations):
        meta["annotations"] = {k: v for k, v in annotations.items() if k not in NOT_COPIED_ANNOTATIONS}
    if obj.get("kind") == "Pod":
        spec = obj.get("spec") or {}
        slimmed_spec = _only(spec, _POD_SPEC)
        for field in ("containers", "initContainers"):
            if spec.get(field):
                slimmed_spec[field] = [{"name": ct.get("name")} for ct in spec[field]]
        return {**obj, "metadata": meta, "spec": slimmed_spec}
    if obj.get("kind") == c.KIND and _finished(obj):
        return {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "metadata": _only(meta, _FINISHED_METADATA),
            "spec": _only(obj.get("spec"), _FINISHED_SPEC),
            "status": _only(obj.get("status"), _FINISHED_STATUS),
        }
    return {**obj, "metadata": meta}


class ObjectStore:
    def __init__(self) -> None:
        self._objects: dict[Key, dict[str, Any]] = {}

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._objects.get(key)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        key = key_of(obj)
        current = self._objects.get(key)
        if current is not None and _version(current) > _version(obj) and current["metadata"].get("uid") == obj["metadata"].get("uid"):
            return current
        slimmed = slim(obj)
        self._objects[key] = slimmed
        return slimmed

    def remove(self, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        current = self._objects.get(key)
        if current is not None and current["metadata"].get("uid") == obj["metadata"].get("uid"):
            del self._objects[key]

    def discard(self, key: Key, seen: dict[str, Any] | None) -> None:
        """Forget what is stored under the key, the server having said it is gone, if that is still `seen` (what was
        stored when the server was asked). A watch event handled while the request was in flight may have stored a
        newer object (one created after the server answered): it stays."""
        if self._objects.get(key) is seen:
            self._objects.pop(key, None)

    def values(self) -> list[dict[str, Any]]:
        return list(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)
