"""The operator's view of the cluster: the latest TaskActions and managed pods seen on the watches, slimmed.

An entry is replaced only by a newer resourceVersion, so a write's response (stored at once) is never rolled
back by the watch event of an older version still on its way.

Each object is kept as its compact JSON (orjson), decoded when asked for: of a running action, 1.4 KB for the
TaskAction (its task template, most of it, kept once across the actions that share it) and 0.9 KB for its pod,
against 4.5 KiB for both as dicts and strings (docs/sizing.md, memory). A decode costs a few microseconds, next to
the milliseconds of the reconcile it serves; what is read of every object (the phase gauge, the admission count, a
pod event's check of its owner) is a small summary kept beside it, not decoded. What get() returns is the caller's
own copy.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable
from typing import Any

import orjson

from ..api import constants as c
from ..pods.builder import NOT_COPIED_ANNOTATIONS
from ..pods.phase import PRIMARY_CONTAINER_ANNOTATION
from ..reporting.log_links import DEFAULT_CONTAINER_ANNOTATION
from .admission import RUN_LABEL

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
_FINISHED_LABELS = (c.LABEL_TERMINATION_STATUS, c.LABEL_COMPLETED_TIME)
_FINISHED_SPEC = ("runName", "actionName", "parentActionName", "actionType")
_FINISHED_STATUS = ("conditions", "pluginPhase", "attempts")
# What the pod-status mapping reads of a pod's spec (the primary container must exist).
_POD_SPEC = ("nodeName", "hostname")
# What is read of a pod's metadata: the decisions (its owner, launch, deletion, deadline), the admission count (its
# run label), the primary container's name (the phase mapping, log links).
_POD_METADATA = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "ownerReferences")
_POD_LABELS = (RUN_LABEL,)
_POD_ANNOTATIONS = (PRIMARY_CONTAINER_ANNOTATION, DEFAULT_CONTAINER_ANNOTATION, c.ANNOTATION_LAUNCH)
_POD_STATUS_UNREAD = ("hostIP", "hostIPs", "podIP", "podIPs", "qosClass")
# The pod's conditions say why it waits: read of a Pending pod only (pods/phase.py, demystify_pending).
_PENDING_ONLY = ("conditions",)
# A pod whose owner finished is read no more but for its phase (the admission count), what the stores compare, and
# its owner (a TaskAction deleted and created again must find its predecessor's pod as such: reconcile/task.py).
_SETTLED_POD_METADATA = ("name", "namespace", "uid", "resourceVersion", "deletionTimestamp", "ownerReferences")


def _only(mapping: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: mapping[k] for k in keys if mapping and k in mapping}


def finished(obj: dict[str, Any] | None) -> bool:
    """A TaskAction with its terminal labels: everything about it was recorded and reported."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(c.LABEL_TERMINATION_STATUS) == c.LABEL_VALUE_TERMINATED and bool(labels.get(c.LABEL_COMPLETED_TIME))


def _slim_pod(obj: dict[str, Any], meta: dict[str, Any], settled: bool) -> dict[str, Any]:
    status = obj.get("status") or {}
    if settled:
        return {"kind": "Pod", "metadata": _only(meta, _SETTLED_POD_METADATA), "status": _only(status, ("phase",))}
    pending = (status.get("phase") or "Pending") == "Pending"
    spec = obj.get("spec") or {}
    slimmed_spec = _only(spec, _POD_SPEC)
    for field in ("containers", "initContainers"):
        if spec.get(field):
            slimmed_spec[field] = [{"name": ct.get("name")} for ct in spec[field]]
    slimmed_meta = _only(meta, _POD_METADATA)
    for field, keys in (("labels", _POD_LABELS), ("annotations", _POD_ANNOTATIONS)):
        if meta.get(field):
            slimmed_meta[field] = _only(meta[field], keys)
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": "Pod",
        "metadata": slimmed_meta,
        "spec": slimmed_spec,
        "status": {k: v for k, v in status.items() if k not in _POD_STATUS_UNREAD and (pending or k not in _PENDING_ONLY)},
    }


def slim(obj: dict[str, Any], settled: bool = False) -> dict[str, Any]:
    """Drop what the operator never reads and what costs memory: managedFields, kubectl's applied copy; of a pod,
    all but what is read of it (`settled`, its owner finished: all but its phase); of a finished TaskAction, all but
    what is read of it once finished (its terminal labels mean everything was recorded and reported)."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    if obj.get("kind") == "Pod":
        return _slim_pod(obj, meta, settled)
    annotations = meta.get("annotations")
    if annotations and NOT_COPIED_ANNOTATIONS.intersection(annotations):
        meta["annotations"] = {k: v for k, v in annotations.items() if k not in NOT_COPIED_ANNOTATIONS}
    if obj.get("kind") == c.KIND and finished(obj):
        return {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "metadata": {**_only(meta, _FINISHED_METADATA), "labels": _only(meta.get("labels"), _FINISHED_LABELS)},
            "spec": _only(obj.get("spec"), _FINISHED_SPEC),
            "status": _only(obj.get("status"), _FINISHED_STATUS),
        }
    return {**obj, "metadata": meta}


# A TaskAction's spec field that many actions share (a fan-out's children run one task) and that is most of its JSON
# (a TaskTemplate, base64): kept once across them (sys.intern: freed with the last object holding it), beside the JSON.
_SHARED_SPEC_FIELD = "taskTemplate"
_SHARED_MIN_LENGTH = 128


class _Entry:
    """One stored object: its compact JSON, and what is compared without decoding it."""

    __slots__ = ("data", "uid", "version", "summary", "shared")

    def __init__(self, obj: dict[str, Any], summary: Hashable) -> None:
        self.uid = obj["metadata"].get("uid")
        self.version = _version(obj)
        self.summary = summary
        spec = obj.get("spec")
        shared = spec.get(_SHARED_SPEC_FIELD) if isinstance(spec, dict) else None
        if isinstance(shared, str) and len(shared) >= _SHARED_MIN_LENGTH:
            # Left in place as null: the decoded spec keeps its keys' order (reconcile/task.py knows a spec by its JSON).
            obj = {**obj, "spec": {**spec, _SHARED_SPEC_FIELD: None}}
            self.shared: str | None = sys.intern(shared)
        else:
            self.shared = None
        # A copy: orjson's own answer keeps the whole buffer it wrote into (4 KiB for a pod's 0.9 KB, 16 KiB for a
        # TaskAction's 2.5 KB).
        self.data = bytes(memoryview(orjson.dumps(obj)))

    def decoded(self) -> dict[str, Any]:
        obj = orjson.loads(self.data)
        if self.shared is not None:
            obj["spec"][_SHARED_SPEC_FIELD] = self.shared
        return obj


class ObjectStore:
    """`summarize`: what scans of the store read of each object (summaries()), computed when it is stored."""

    def __init__(self, summarize: Callable[[dict[str, Any]], Hashable] | None = None) -> None:
        self._objects: dict[Key, _Entry] = {}
        self._summarize = summarize or (lambda obj: None)

    def _store(self, key: Key, obj: dict[str, Any]) -> None:
        self._objects[key] = _Entry(obj, self._summarize(obj))

    def get(self, key: Key) -> dict[str, Any] | None:
        entry = self._objects.get(key)
        return None if entry is None else entry.decoded()

    def put(self, obj: dict[str, Any], settled: bool = False) -> dict[str, Any]:
        """Store `obj` unless what is stored is newer: of the same object, or of a later one of the same name. A
        resourceVersion is the etcd revision of the write and a name is free only once its object is gone, so a late
        event of an earlier incarnation (a pod deleted for a system retry) is older than its successor and must not
        hide it."""
        key = key_of(obj)
        current = self._objects.get(key)
        if current is not None and current.version > _version(obj):
            return current.decoded()
        slimmed = slim(obj, settled)
        self._store(key, slimmed)
        return slimmed

    def settle(self, key: Key) -> None:
        """Keep of the object under the key only what is read once its owner finished (slim's `settled`)."""
        current = self._objects.get(key)
        if current is not None:
            self._store(key, slim(current.decoded(), settled=True))

    def remove(self, obj: dict[str, Any]) -> None:
        key = key_of(obj)
        current = self._objects.get(key)
        if current is not None and current.uid == obj["metadata"].get("uid"):
            del self._objects[key]

    def discard(self, key: Key, seen: dict[str, Any] | None) -> None:
        """Forget what is stored under the key, the server having said it is gone, if that is still `seen` (what was
        stored when the server was asked). A watch event handled while the request was in flight may have stored a
        newer object (one created after the server answered): it stays."""
        current = self._objects.get(key)
        if current is None:
            return
        if seen is not None and (current.uid, current.version) == (seen["metadata"].get("uid"), _version(seen)):
            del self._objects[key]

    def versions(self) -> list[tuple[Key, int]]:
        """The key and resourceVersion of every object, none decoded (the ghost sweep)."""
        return [(key, entry.version) for key, entry in self._objects.items()]

    def summary(self, key: Key) -> Hashable:
        """The summary of what is stored under the key; None when nothing is."""
        entry = self._objects.get(key)
        return None if entry is None else entry.summary

    def summaries(self) -> list[Hashable]:
        return [entry.summary for entry in self._objects.values()]

    def __len__(self) -> int:
        return len(self._objects)
