"""Enqueue's mapping of an actions.Action onto a TaskAction (docs/upstream-contract.md, "What the actions service
writes")."""

from __future__ import annotations

import base64

import pytest
from flyteidl2.actions import actions_service_pb2 as pb
from flyteidl2.common import identifier_pb2
from flyteidl2.core import literals_pb2, tasks_pb2, types_pb2
from flyteidl2.task import run_pb2, task_definition_pb2
from flyteidl2.workflow import run_definition_pb2
from google.protobuf import timestamp_pb2, wrappers_pb2

from taskaction_operator.actions import enqueue
from taskaction_operator.client.manifests import container_template

NS = "flyte"
RUN = identifier_pb2.RunIdentifier(org="local", project="flytesnacks", domain="development", name="rabc123")


def task_action(name: str = "a0", parent: str | None = None, *, args: list[str] | None = None, cache_key: str = "") -> pb.Action:
    template = container_template("img", args or ["a0", "--run-start-time", "{{.runStartTime}}"], name="mod.step_one")
    task = run_definition_pb2.TaskAction(spec=task_definition_pb2.TaskSpec(task_template=template, short_name="step_one"))
    if cache_key:
        task.cache_key.CopyFrom(wrappers_pb2.StringValue(value=cache_key))
    action = pb.Action(
        action_id=identifier_pb2.ActionIdentifier(run=RUN, name=name),
        input_uri="s3://bucket/flytesnacks/development/rabc123/inputs",
        run_output_base="s3://bucket/flytesnacks/development/rabc123/",
        task=task,
    )
    if parent is not None:
        action.parent_action_name = parent
    return action


def parent_object() -> dict:
    return {
        "metadata": {
            "name": "rabc123-a0",
            "namespace": NS,
            "uid": "uid-a0",
            "labels": {"flyte.org/run": "rabc123", "flyte.org/action": "a0", "team": "ml"},
            "annotations": {"owner": "alice"},
        },
        "spec": {"runName": "rabc123", "actionName": "a0", "envVars": {"LOG_LEVEL": "10", "SHARED": "parent"}, "interruptible": True},
    }


def decoded_template(body: dict) -> tasks_pb2.TaskTemplate:
    return tasks_pb2.TaskTemplate.FromString(base64.b64decode(body["spec"]["taskTemplate"]))


def test_root_task_with_run_spec() -> None:
    run_spec = run_pb2.RunSpec(
        labels=run_pb2.Labels(values={"team": "ml", "flyte.org/run": "not-this"}),
        annotations=run_pb2.Annotations(values={"note": "x"}),
        envs=run_pb2.Envs(values=[literals_pb2.KeyValuePair(key="A", value="1")]),
        interruptible=wrappers_pb2.BoolValue(value=False),
        run_start_time=timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=5),
    )
    body = enqueue.taskaction_for(task_action(cache_key="ck"), NS, run_spec)
    meta, spec = body["metadata"], body["spec"]
    assert meta["name"] == "rabc123-a0" and meta["namespace"] == NS
    assert meta["labels"] == {
        "flyte.org/project": "flytesnacks", "flyte.org/domain": "development", "flyte.org/run": "rabc123",
        "flyte.org/action": "a0", "flyte.org/action-type": "task", "flyte.org/is-root": "true", "team": "ml",
    }
    assert meta["annotations"] == {"note": "x"}
    assert "ownerReferences" not in meta
    assert spec["envVars"] == {"A": "1"} and spec["interruptible"] is False
    assert spec["inputUri"] == "s3://bucket/flytesnacks/development/rabc123/inputs"
    assert spec["runOutputBase"] == "s3://bucket/flytesnacks/development/rabc123/"
    assert spec["taskType"] == "container" and spec["shortName"] == "step_one" and spec["cacheKey"] == "ck"
    assert "parentActionName" not in spec and "actionType" not in spec
    assert list(decoded_template(body).container.args) == ["a0", "--run-start-time", "2023-11-14T22:13:20Z"]


def test_run_start_time_left_alone_without_one() -> None:
    body = enqueue.taskaction_for(task_action(), NS, run_pb2.RunSpec())
    assert list(decoded_template(body).container.args)[-1] == "{{.runStartTime}}"


def test_child_inherits_and_is_owned_by_its_parent() -> None:
    action = task_action("n1abc", "a0")
    action.group = "g1"
    body = enqueue.taskaction_for(action, NS, None, parent_object())
    meta, spec = body["metadata"], body["spec"]
    assert meta["name"] == "rabc123-n1abc"
    assert meta["labels"]["flyte.org/action"] == "n1abc" and meta["labels"]["flyte.org/is-root"] == "false"
    assert meta["labels"]["flyte.org/run"] == "rabc123" and meta["labels"]["team"] == "ml"
    assert meta["annotations"] == {"owner": "alice"}
    assert meta["ownerReferences"] == [
        {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": "rabc123-a0", "uid": "uid-a0", "blockOwnerDeletion": True}
    ]
    assert spec["parentActionName"] == "a0" and spec["group"] == "g1"
    assert spec["envVars"] == {"LOG_LEVEL": "10", "SHARED": "parent"} and spec["interruptible"] is True


def test_child_does_not_inherit_the_terminal_labels_of_a_parent_that_ended() -> None:
    parent = parent_object()
    parent["metadata"]["labels"].update({"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-12-01.18-24"})
    labels = enqueue.taskaction_for(task_action("n1abc", "a0"), NS, None, parent)["metadata"]["labels"]
    assert "flyte.org/termination-status" not in labels and "flyte.org/completed-time" not in labels
    assert labels["team"] == "ml"  # the rest is inherited as before


def test_child_needs_its_parent_object() -> None:
    with pytest.raises(enqueue.InvalidAction, match="parent 'a0'"):
        enqueue.taskaction_for(task_action("n1", "a0"), NS)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda a: setattr(a, "input_uri", ""), "input_uri is empty"),
        (lambda a: setattr(a, "run_output_base", ""), "run_output_base is empty"),
        (lambda a: a.action_id.run.__setattr__("name", "R-UPPER"), "DNS-1035"),
        (lambda a: a.action_id.__setattr__("name", "x" * 31), "at most 30"),
        (lambda a: a.action_id.run.__setattr__("project", ""), "project is empty"),
        (lambda a: a.ClearField("task"), "no spec"),
    ],
)
def test_invalid_actions_say_why(mutate, message: str) -> None:
    action = task_action()
    mutate(action)
    with pytest.raises(enqueue.InvalidAction, match=message):
        enqueue.taskaction_for(action, NS)


def condition_action(simple: int) -> pb.Action:
    return pb.Action(
        action_id=identifier_pb2.ActionIdentifier(run=RUN, name="approve"),
        parent_action_name="a0",
        condition=run_definition_pb2.ConditionAction(name="approve", type=types_pb2.LiteralType(simple=simple), prompt="ok?"),
    )


def test_condition_has_no_template_and_no_inheritance() -> None:
    body = enqueue.taskaction_for(condition_action(types_pb2.BOOLEAN), NS, None, parent_object())
    spec, meta = body["spec"], body["metadata"]
    assert spec["actionType"] == "condition" and "taskTemplate" not in spec and "envVars" not in spec
    assert meta["labels"]["flyte.org/action-type"] == "condition" and "team" not in meta["labels"]
    assert run_definition_pb2.ConditionAction.FromString(base64.b64decode(spec["conditionSpec"])).prompt == "ok?"
    assert meta["ownerReferences"][0]["uid"] == "uid-a0"


def test_condition_of_a_type_that_cannot_be_signalled() -> None:
    with pytest.raises(enqueue.InvalidAction, match="simple BOOLEAN, INTEGER, FLOAT or STRING"):
        enqueue.taskaction_for(condition_action(types_pb2.STRUCT), NS, None, parent_object())


def test_trace_has_no_taskaction() -> None:
    action = pb.Action(action_id=identifier_pb2.ActionIdentifier(run=RUN, name="t1"), parent_action_name="a0", trace=run_definition_pb2.TraceAction(name="t"))
    assert enqueue.kind_of(action) == "trace"
    with pytest.raises(enqueue.InvalidAction, match="trace action has no TaskAction"):
        enqueue.taskaction_for(action, NS, None, parent_object())
