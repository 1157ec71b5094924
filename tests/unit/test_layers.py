"""The import graph of operator/taskaction_operator, read with `ast` (imports inside functions count too): no circle
between modules, no arrow from a lower layer to a higher one, and an in-pod bootstrap that loads none of the
operator. `python -m tests.unit.test_layers` prints the graph by layer (`--modules`: module by module).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = "taskaction_operator"
PACKAGE_DIR = Path(__file__).resolve().parents[2] / "operator" / PACKAGE

# Lowest first. A module may import its own layer and the layers below it, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("api",),  # the CRD's vocabulary: constants, models, decoding, phases, timestamps
    ("settings", "logs", "metrics", "tracing", "health", "redact"),  # the process's configuration and observability
    ("kube", "storage"),  # the Kubernetes client; object storage and its paths
    ("catalog",),  # the Flyte cache service: cache keys and its client
    ("bundles",),  # the in-pod bootstrap
    ("pods",),  # TaskTemplate -> pod, pod status -> phase
    ("reconcile",),  # the pure decisions
    ("reporting",),  # the ActionEvents a TaskAction calls for, its log links (pure)
    ("controller", "client"),  # the operator's shell; the client library and CLI
    ("actions",),  # the Flyte actions service (uses the client's run builders)
    ("__main__",),  # the operator's entry point
]
BOOTSTRAP = f"{PACKAGE}.bundles.__main__"
NOT_IN_A_TASK_POD = ("pods", "reconcile", "controller", "kube", "settings")

Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module but the package's own __init__ (a docstring: importing it is implied by any import)."""
    found = {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}
    assert ast.parse(found.pop(PACKAGE).read_text()).body[1:] == [], f"{PACKAGE}/__init__.py should hold only its docstring"
    return found


def _imported(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules `module` imports: `from .x import y` is module x.y when that is a module, else x."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1] + [node.module or ""]) if node.level else node.module or ""
            base = base.rstrip(".")
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known and name != PACKAGE:
                name = name.rpartition(".")[0]
            if name in known and name != module:
                targets.add(name)
    return targets


def import_graph() -> Graph:
    found = modules()
    return {module: _imported(module, path, set(found)) for module, path in found.items()}


def part_of(module: str) -> str:
    """`taskaction_operator.api.times` -> `api`; `taskaction_operator.settings` -> `settings`."""
    return module.split(".")[1]


def layer_of(module: str) -> int:
    return next(i for i, parts in enumerate(LAYERS) if part_of(module) in parts)


def find_cycle(graph: Graph) -> list[str] | None:
    """One circle of imports (its modules in order, the first repeated at the end), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def reachable(graph: Graph, start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_every_part_of_the_package_has_a_layer() -> None:
    known = {part for parts in LAYERS for part in parts}
    assert sorted({part_of(m) for m in import_graph()} - known) == []
    assert len(known) == sum(len(parts) for parts in LAYERS), "a part is written in two layers"


def test_no_circle_between_modules() -> None:
    assert find_cycle(import_graph()) is None


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    graph = import_graph()
    upward = [f"{a} -> {b}" for a in sorted(graph) for b in sorted(graph[a]) if layer_of(b) > layer_of(a)]
    assert upward == []


def test_the_in_pod_bootstrap_loads_none_of_the_operator() -> None:
    loaded = reachable(import_graph(), BOOTSTRAP)
    assert sorted(m for m in loaded if part_of(m) in NOT_IN_A_TASK_POD) == []
    assert {part_of(m) for m in loaded} <= {"api", "bundles", "storage"}


def test_the_checks_see_what_they_are_meant_to() -> None:
    """The graph is not empty and the checks catch what they look for, so passing means something."""
    graph = import_graph()
    assert f"{PACKAGE}.api.phase" in graph[f"{PACKAGE}.storage.outputs"]
    assert f"{PACKAGE}.reconcile.task" in reachable(graph, f"{PACKAGE}.__main__")
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def describe(graph: Graph, by_module: bool) -> str:
    """Highest layer first; each part (or module) with what it imports of the package."""

    def name(module: str) -> str:
        return module.removeprefix(f"{PACKAGE}.") if by_module else part_of(module)

    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        edges[name(module)] |= {name(t) for t in targets} - {name(module)}
    lines = []
    for i, parts in reversed(list(enumerate(LAYERS))):
        lines.append(f"layer {i}: {', '.join(parts)}")
        for source in sorted(n for n in edges if n.split(".")[0] in parts):
            lines.append(f"    {source:<24} -> {', '.join(sorted(edges[source])) or '-'}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(import_graph(), by_module="--modules" in sys.argv[1:]))
