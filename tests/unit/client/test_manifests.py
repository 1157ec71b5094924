"""TaskAction manifests: names, labels, URIs, a child's inheritance and ownerReference, a condition's spec."""

from __future__ import annotations

import pytest
from flyteidl2.core import types_pb2

from taskaction_operator.client import errors, manifests, signals

from .builders import PARENT, TEMPLATE


def test_root_body_names_labels_and_uris() -> None:
    body = manifests.root_body(
        TEMPLATE, run="hello", namespace="flyte", project="p", domain="d", storage="s3://bucket/",
        labels={"team": "ml", "flyte.org/run": "spoofed"}, annotations={"a": "b"}, env_vars={"K": "V"}, interruptible=True,
    )
    assert body["metadata"]["name"] == "hello-a0"
    assert body["metadata"]["labels"] == {
        "flyte.org/project": "p", "flyte.org/domain": "d", "flyte.org/run": "hello", "flyte.org/action": "a0",
        "flyte.org/action-type": "task", "flyte.org/is-root": "true", "team": "ml",
    }
    assert body["metadata"]["annotations"] == {"a": "b"}
    assert "ownerReferences" not in body["metadata"]
    spec = body["spec"]
    assert (spec["inputUri"], spec["runOutputBase"]) == ("s3://bucket/p/d/hello/inputs", "s3://bucket/p/d/hello/")
    assert spec["envVars"] == {"K": "V"} and spec["interruptible"] is True
    with pytest.raises(errors.InvalidName, match="run name 'Hello'"):
        manifests.root_body(TEMPLATE, run="Hello", namespace="flyte", project="p", domain="d")


def test_child_inherits_without_overwriting_and_is_owned_by_the_parent() -> None:
    body = manifests.child_body(
        TEMPLATE, PARENT, action="train", labels={"tier": "silver"}, annotations={"x": "child"}, env_vars={"A": "child"}
    )
    meta, spec = body["metadata"], body["spec"]
    assert meta["name"] == "hello-train"
    assert meta["ownerReferences"] == [
        {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": "hello-a0", "uid": "u-1", "blockOwnerDeletion": True}
    ]
    assert meta["labels"] == {
        "flyte.org/project": "p", "flyte.org/domain": "d", "flyte.org/run": "hello", "flyte.org/action": "train",
        "flyte.org/action-type": "task", "flyte.org/is-root": "false", "tier": "silver", "team": "ml",
    }
    assert meta["annotations"] == {"x": "child", "owner": "ada"}
    assert spec["envVars"] == {"A": "child", "B": "parent"}
    assert spec["interruptible"] is True
    assert spec["parentActionName"] == "a0"
    assert (spec["inputUri"], spec["runOutputBase"]) == ("s3://b/p/d/hello/train/inputs.pb", "s3://b/p/d/hello/")
    own = manifests.child_body(TEMPLATE, PARENT, action="eval", interruptible=False)
    assert own["spec"]["interruptible"] is False
    with pytest.raises(errors.InvalidName, match="root's name"):
        manifests.child_body(TEMPLATE, PARENT, action="a0")


def test_condition_child_inherits_nothing_but_is_owned() -> None:
    body = manifests.condition_body(PARENT, action="approve", simple_type=types_pb2.INTEGER, timeout_seconds=30)
    assert body["metadata"]["labels"]["flyte.org/action-type"] == "condition"
    assert "team" not in body["metadata"]["labels"] and "annotations" not in body["metadata"]
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    spec = signals.condition_spec(body)
    assert (spec.type.simple, spec.timeout.seconds, spec.name) == (types_pb2.INTEGER, 30, "approve")
    with pytest.raises(errors.ClientError, match="BOOLEAN, INTEGER, FLOAT or STRING"):
        manifests.condition_body(PARENT, action="x", simple_type=types_pb2.DATETIME)


def test_the_builders_share_one_list_of_options_and_refuse_others() -> None:
    body = manifests.taskaction(TEMPLATE, run="hello", labels={"flyte.org/run": "spoofed", "team": "ml"}, interruptible=False)
    assert body["metadata"]["labels"]["flyte.org/run"] == "hello" and body["metadata"]["labels"]["team"] == "ml"
    assert body["spec"]["interruptible"] is False
    with pytest.raises(TypeError, match="unexpected keyword arguments: label$"):
        manifests.root_body(TEMPLATE, run="hello", namespace="flyte", project="p", domain="d", label={"team": "ml"})
    with pytest.raises(TypeError, match="unexpected keyword arguments: env$"):
        manifests.child_body(TEMPLATE, PARENT, action="train", env={"A": "1"})
