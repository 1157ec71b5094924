"""The operator's view of the cluster: the latest TaskActions and managed pods seen on the watches, slimmed.

An entry is replaced only by a newer resourceVersion, so a write's response (stored at once) is never rolled
back by the watch event of an older version still on its way.
"""

from __future__ import annotations

from typing import Any

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


def slim(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop what the operator never reads and what costs memory: managedFields, kubectl's applied copy."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    annotations = meta.get("annotations")
    if annotations and NOT_COPIED_ANNOTATIONS.intersection(annotations):
        meta["annotations"] = {k: v for k, v in annotations.items() if k not in NOT_COPIED_ANNOTATIONS}
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

    def discard(self, key: Key) -> None:
        """Forget whatever is stored under the key (the server said it is gone)."""
        self._objects.pop(key, None)

    def values(self) -> list[dict[str, Any]]:
        return list(self._objects.values())

    def __len__(self) -> int:
        return len(self._objects)
