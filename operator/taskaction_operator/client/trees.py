"""The tree of a run: its TaskActions linked by parentActionName, read once (`get_run`) or followed through a watch
(`watch_run`) to the root's end, with each action's phase, start, end and duration."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from flyteidl2.common import phase_pb2

from ..api import constants as c
from ..api.times import parse_time, utcnow
from ..kube import KubeApi
from .action_phase import Phase, is_terminal, phase_of
from .errors import NotFound


@dataclass
class ActionNode:
    action: str
    name: str
    parent: str | None
    phase: Phase
    obj: dict[str, Any]
    children: list[str] = field(default_factory=list)

    @property
    def created(self) -> dt.datetime | None:
        return parse_time(self.obj["metadata"].get("creationTimestamp"))

    @property
    def finished(self) -> dt.datetime | None:
        """When it reached its terminal phase (the last phaseHistory entry), None while it runs."""
        if not is_terminal(self.phase):
            return None
        history = (self.obj.get("status") or {}).get("phaseHistory") or []
        return parse_time(history[-1].get("occurredAt")) if history else None

    def duration(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        start = self.created
        if start is None:
            return None
        end = self.finished or (None if is_terminal(self.phase) else (now or utcnow()))
        return None if end is None else max(end - start, dt.timedelta(0))


@dataclass
class RunTree:
    run: str
    namespace: str
    nodes: dict[str, ActionNode] = field(default_factory=dict)
    root_deleted: bool = False

    @classmethod
    def from_objects(cls, run: str, namespace: str, objects: Iterable[dict[str, Any]]) -> RunTree:
        tree = cls(run, namespace)
        for obj in objects:
            tree.nodes[obj["spec"]["actionName"]] = _node(obj)
        tree.link()
        return tree

    def link(self) -> None:
        for node in self.nodes.values():
            node.children = []
        for action in sorted(self.nodes, key=lambda a: (self.nodes[a].created or dt.datetime.min.replace(tzinfo=dt.timezone.utc), a)):
            parent = self.nodes[action].parent
            if parent is not None and parent in self.nodes:
                self.nodes[parent].children.append(action)

    @property
    def root(self) -> ActionNode | None:
        return self.nodes.get(c.ROOT_ACTION_NAME) or next((n for n in self.nodes.values() if n.parent is None), None)

    @property
    def phase(self) -> Phase:
        if self.root_deleted:
            return phase_pb2.ACTION_PHASE_ABORTED
        root = self.root
        return root.phase if root else phase_pb2.ACTION_PHASE_UNSPECIFIED

    def tops(self) -> list[ActionNode]:
        """The root, then actions whose parent is not in the tree (orphans)."""
        tops = [n for n in self.nodes.values() if n.parent is None or n.parent not in self.nodes]
        return sorted(tops, key=lambda n: (n.parent is not None, n.action))

    def walk(self) -> Iterable[tuple[int, ActionNode]]:
        def visit(node: ActionNode, depth: int) -> Iterable[tuple[int, ActionNode]]:
            yield depth, node
            for child in node.children:
                yield from visit(self.nodes[child], depth + 1)

        for top in self.tops():
            yield from visit(top, 0)

    def apply(self, event_type: str, obj: dict[str, Any]) -> None:
        action = obj["spec"]["actionName"]
        if event_type == "DELETED":
            node = self.nodes.pop(action, None)
            if node is not None and node.parent is None and not is_terminal(node.phase):
                self.root_deleted = True
        else:
            self.nodes[action] = _node(obj)
        self.link()


def _node(obj: dict[str, Any]) -> ActionNode:
    spec = obj.get("spec") or {}
    return ActionNode(
        action=spec["actionName"], name=obj["metadata"]["name"], parent=spec.get("parentActionName"), phase=phase_of(obj), obj=obj
    )


def run_selector(run: str) -> str:
    return f"{c.LABEL_RUN}={run}"


async def get_run(api: KubeApi, run: str, namespace: str = "flyte") -> RunTree:
    """Every TaskAction labelled with the run, linked by parentActionName. NotFound when there is none."""
    items, _ = await api.list_all_taskactions(namespace, run_selector(run))
    if not items:
        raise NotFound(f"no TaskAction of run {run!r} in namespace {namespace!r}")
    return RunTree.from_objects(run, namespace, items)


async def watch_run(api: KubeApi, run: str, namespace: str = "flyte", *, timeout_seconds: int = 60) -> AsyncIterator[RunTree]:
    """A snapshot of the run's tree, then the tree after every change, until the root is terminal (or deleted while
    running: ABORTED). An expired watch (410 Gone) lists again and yields the fresh snapshot."""
    items, version = await api.list_all_taskactions(namespace, run_selector(run))
    if not items:
        raise NotFound(f"no TaskAction of run {run!r} in namespace {namespace!r}")
    tree = RunTree.from_objects(run, namespace, items)
    yield tree
    while not is_terminal(tree.phase) and tree.root is not None:
        relist = False
        async for event in api.watch_taskactions(namespace, run_selector(run), version, timeout_seconds):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                relist = True
                break
            version = (obj.get("metadata") or {}).get("resourceVersion", version)
            if kind == "BOOKMARK":
                continue
            tree.apply(kind, obj)
            yield tree
            if is_terminal(tree.phase) or tree.root is None:
                return
        if relist:
            items, version = await api.list_all_taskactions(namespace, run_selector(run))
            had_root = tree.root is not None
            tree = RunTree.from_objects(run, namespace, items)
            if had_root and tree.root is None:
                tree.root_deleted = True
            yield tree
