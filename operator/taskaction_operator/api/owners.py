"""ownerReferences to a TaskAction, in the two shapes upstream writes (docs/upstream-contract.md, "Ownership")."""

from __future__ import annotations

from typing import Any

from .constants import API_VERSION, KIND


def parent_reference(parent: dict[str, Any]) -> dict[str, Any]:
    """A child TaskAction's reference to its parent TaskAction (setParentOwnership): deleting the parent waits for
    the child (blockOwnerDeletion), and the parent does not control it (no `controller`)."""
    meta = parent["metadata"]
    return {"apiVersion": API_VERSION, "kind": KIND, "name": meta["name"], "uid": meta["uid"], "blockOwnerDeletion": True}


def controller_reference(name: str, uid: str) -> dict[str, Any]:
    """A pod's reference to the TaskAction that made it (task_exec_metadata.go): its controller, no
    blockOwnerDeletion."""
    return {"apiVersion": API_VERSION, "kind": KIND, "name": name, "uid": uid, "controller": True}
