"""Parent ownership of child TaskActions: the reference the Flyte actions service writes, set by us when missing.

A user who `kubectl apply`s a parent and its children cannot know the parent's UID; without the reference,
deleting the root would leave the children behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..api import constants as c
from ..api.owners import parent_reference
from ..pods.naming import taskaction_name


@dataclass(frozen=True)
class ParentDecision:
    ready: bool  # the child may run
    owner_references: list[dict[str, Any]] | None = None  # the new list to write, when one is added
    waiting_message: str | None = None  # why the child is not started yet
    error: str | None = None  # the reference is wrong: report it
    error_code: str = "OwnerReferenceMismatch"
    missing: bool = False  # the parent does not exist (yet)


def parent_name(spec: dict[str, Any]) -> str | None:
    parent = spec.get("parentActionName")
    if not parent:
        return None
    return taskaction_name(spec["runName"], parent)


def _taskaction_references(meta: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        ref
        for ref in meta.get("ownerReferences") or []
        if ref.get("kind") == c.KIND and (ref.get("apiVersion") or "").startswith(c.GROUP + "/")
    ]


MAX_LINEAGE = 64
CODE_PARENT_CYCLE = "ParentCycle"


def lineage_loop(child: dict[str, Any], parent: dict[str, Any] | None, ancestors: Sequence[dict[str, Any]]) -> str | None:
    """The names around the loop when the child is its own ancestor, as `a -> b -> a`, or None. `ancestors` are the
    parent's parent and up, as far as they are known."""
    name = child["metadata"]["name"]
    chain = [name]
    if parent_name(child.get("spec") or {}) == name:
        return f"{name} -> {name}"
    for ancestor in ([parent] if parent is not None else []) + list(ancestors):
        chain.append(ancestor["metadata"]["name"])
        if ancestor["metadata"]["name"] == name:
            return " -> ".join(chain)
    return None


def decide(child: dict[str, Any], parent: dict[str, Any] | None, ancestors: Sequence[dict[str, Any]] = ()) -> ParentDecision:
    """`parent` is the TaskAction named `<runName>-<parentActionName>` in the child's namespace, or None; `ancestors`
    its own parent and up, as far as they are known (to find a loop)."""
    meta = child["metadata"]
    expected = parent_name(child.get("spec") or {})
    if expected is None:
        return ParentDecision(ready=True)
    loop = lineage_loop(child, parent, ancestors)
    if loop is not None:
        return ParentDecision(ready=False, error=f"the action is its own ancestor: {loop}", error_code=CODE_PARENT_CYCLE)
    where = f"{meta.get('namespace')}/{expected}"
    refs = _taskaction_references(meta)
    if refs:
        ref = refs[0]
        if ref.get("name") != expected:
            return ParentDecision(
                ready=False,
                error=f"ownerReference names TaskAction {ref.get('name')!r} but parentActionName makes the parent {expected!r}",
            )
        if parent is None:
            return ParentDecision(ready=False, waiting_message=f"parent TaskAction {where} was deleted; not started", missing=True)
        if ref.get("uid") != parent["metadata"].get("uid"):
            return ParentDecision(
                ready=False,
                error=f"ownerReference to {where} has uid {ref.get('uid')} but the parent's uid is {parent['metadata'].get('uid')}",
            )
        if parent["metadata"].get("deletionTimestamp"):
            return ParentDecision(ready=False, waiting_message=f"parent TaskAction {where} is being deleted; not started")
        return ParentDecision(ready=True)
    if parent is None:
        return ParentDecision(ready=False, waiting_message=f"waiting for parent TaskAction {where}", missing=True)
    references = list(meta.get("ownerReferences") or []) + [parent_reference(parent)]
    if parent["metadata"].get("deletionTimestamp"):
        # Owned, the child goes with its parent; it is never started.
        return ParentDecision(
            ready=False, owner_references=references, waiting_message=f"parent TaskAction {where} is being deleted; not started"
        )
    return ParentDecision(ready=True, owner_references=references)
