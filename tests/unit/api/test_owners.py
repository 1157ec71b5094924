"""The two ownerReference shapes, exactly as upstream writes them (docs/upstream-contract.md, "Ownership")."""

from __future__ import annotations

from taskaction_operator.api.owners import controller_reference, parent_reference


def test_a_child_blocks_its_parents_deletion_and_is_not_controlled() -> None:
    parent = {"metadata": {"name": "rabc123-a0", "uid": "uid-a0", "labels": {"x": "y"}}}
    assert parent_reference(parent) == {
        "apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": "rabc123-a0", "uid": "uid-a0", "blockOwnerDeletion": True
    }  # fmt: skip


def test_a_pod_is_controlled_by_its_taskaction_without_blocking() -> None:
    assert controller_reference("rabc123-a0", "uid-a0") == {
        "apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": "rabc123-a0", "uid": "uid-a0", "controller": True
    }  # fmt: skip
