"""The checked-in example run is what examples/make_examples.py generates, and every action in it is valid."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import yaml

from taskaction_operator.reconcile.task import validate

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("make_examples", REPO / "examples" / "make_examples.py")
make_examples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_examples)


def test_hello_run_matches_its_generator() -> None:
    assert (REPO / "examples" / "hello-run.yaml").read_text() == make_examples.render(), (
        "examples/hello-run.yaml is stale: run `make crd`"
    )


def test_hello_run_is_three_levels_of_valid_actions() -> None:
    docs = list(yaml.safe_load_all((REPO / "examples" / "hello-run.yaml").read_text()))
    parents = {d["spec"]["actionName"]: d["spec"].get("parentActionName") for d in docs}
    assert parents == {"a0": None, "prepare": "a0", "train": "a0", "evaluate": "train"}
    for doc in docs:
        doc["metadata"]["namespace"] = "default"
        ta, template = validate(doc)
        assert template.container.image == "python:3.11-slim"
        assert "ownerReferences" not in doc["metadata"]
