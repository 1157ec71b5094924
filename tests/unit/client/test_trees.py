"""The tree of a run: links, walk order, phases, durations, watch events."""

from __future__ import annotations

from flyteidl2.common import phase_pb2 as P

from taskaction_operator.client import trees

from .builders import DONE, RUNNING, ta


def test_run_tree_links_walks_and_applies_events() -> None:
    tree = trees.RunTree.from_objects(
        "r", "flyte",
        [ta("b", "a0", RUNNING, "2026-01-01T00:00:02Z"), ta("a0", None, RUNNING), ta("a", "a0", RUNNING, "2026-01-01T00:00:01Z"), ta("c", "a", RUNNING)],
    )
    assert [(d, n.action) for d, n in tree.walk()] == [(0, "a0"), (1, "a"), (2, "c"), (1, "b")]
    assert tree.phase == P.ACTION_PHASE_RUNNING
    tree.apply("MODIFIED", ta("a0", None, DONE, history=[{"phase": "Completed", "occurredAt": "2026-01-01T00:01:05Z"}]))
    assert tree.phase == P.ACTION_PHASE_SUCCEEDED
    assert tree.nodes["a0"].duration().total_seconds() == 65
    tree.apply("DELETED", ta("c", "a", RUNNING))
    assert "c" not in tree.nodes and tree.nodes["a"].children == []


def test_deleting_a_running_root_is_aborted() -> None:
    tree = trees.RunTree.from_objects("r", "flyte", [ta("a0", None, RUNNING)])
    tree.apply("DELETED", ta("a0", None, RUNNING))
    assert tree.phase == P.ACTION_PHASE_ABORTED
