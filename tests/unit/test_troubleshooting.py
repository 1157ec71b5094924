"""docs/troubleshooting.md names every errorState code the operator sets: the CODE_* constants of the modules that
set them, the bundle contract's codes and the codes written as literals in the decisions."""

from __future__ import annotations

import ast
from pathlib import Path

from taskaction_operator.api import constants
from taskaction_operator.bundles import errors as bundle_errors
from taskaction_operator.reconcile import condition, ownership, task
from taskaction_operator.storage import outputs

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "operator" / "taskaction_operator"
# Where codes are written as string literals: retryable("OOMKilled", ...), permanent("BadTaskSpecification", ...),
# or as a default (error_code: str = "OwnerReferenceMismatch").
LITERAL_SOURCES = ("pods/phase.py", "reconcile/task.py", "reconcile/ownership.py")
MAKERS = {"retryable", "permanent", "ExecError"}


def constant_codes() -> set[str]:
    codes = {value for module in (constants, outputs, task, ownership, condition) for name, value in vars(module).items()
             if name.startswith("CODE_") and isinstance(value, str)}
    refused = {code for code, _ in task._CREATE_ERRORS.values()}  # the pod-create refusals by HTTP status
    return codes | refused | {error.code for error in bundle_errors.ALL} | {constants.REASON_INVALID_SPEC}


def literal_codes() -> set[str]:
    found = set()
    for source in LITERAL_SOURCES:
        for node in ast.walk(ast.parse((PACKAGE / source).read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in MAKERS and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
            if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "error_code" and isinstance(node.value, ast.Constant):
                found.add(node.value.value)
    return found


def test_every_code_is_explained() -> None:
    text = (REPO / "docs" / "troubleshooting.md").read_text()
    literals = literal_codes()
    assert {"OOMKilled", "Interrupted", "PodPendingTimeout", "BadTaskSpecification", "UnexpectedObjectDeletion", "OwnerReferenceMismatch"} <= literals
    missing = sorted(code for code in constant_codes() | literals if f"`{code}`" not in text)
    assert not missing, f"docs/troubleshooting.md does not explain {missing}"
