"""`Enqueue`: the TaskAction the Go actions client creates for an `actions.Action` (actions/k8s/client.go Enqueue;
docs/upstream-contract.md, "What the actions service writes"). Pure: the caller fetches the parent and creates it.

- a task: the template embedded (`{{.runStartTime}}` in its args replaced when the RunSpec carries a start time),
  `taskType`, `shortName`, `cacheKey`; a root takes the RunSpec's labels, annotations, envs and interruptible, a child
  inherits its parent's without overwriting, and gets ONE ownerReference to the parent;
- a condition: `conditionSpec`, no template, no inheritance, the ownerReference; only simple types can be signalled;
- a trace has no TaskAction (see `updates.trace_update`).
"""

from __future__ import annotations

import base64
from datetime import UTC
from typing import Any

from flyteidl2.actions import actions_service_pb2
from flyteidl2.core import tasks_pb2
from flyteidl2.task import run_pb2

from ..api import constants as c
from ..api.decoding import encode_task_template
from ..api.times import rfc3339
from ..client import errors, literals, manifests, names
from ..pods.naming import taskaction_name

RUN_START_TIME = "{{.runStartTime}}"
SIGNALLABLE_TYPES = frozenset(literals.SIGNALLABLE_FIELDS)


class InvalidAction(ValueError):
    """The request cannot become a TaskAction (INVALID_ARGUMENT); the message says why."""


def kind_of(action: actions_service_pb2.Action) -> str:
    """`task`, `condition` or `trace`."""
    kind = action.WhichOneof("spec")
    if kind is None:
        raise InvalidAction("action has no spec: one of task, condition or trace is required")
    return kind


def parent_of(action: actions_service_pb2.Action) -> str | None:
    return action.parent_action_name if action.HasField("parent_action_name") and action.parent_action_name else None


def parent_name(action: actions_service_pb2.Action) -> str | None:
    """The TaskAction name of the action's parent, None for a root."""
    parent = parent_of(action)
    return None if parent is None else taskaction_name(action.action_id.run.name, parent)


def validate(action: actions_service_pb2.Action, namespace: str) -> None:
    run_id = action.action_id.run
    try:
        names.validate_names(
            run=run_id.name, action=action.action_id.name, project=run_id.project, domain=run_id.domain,
            namespace=namespace, parent=parent_of(action),
        )
    except errors.InvalidName as exc:
        raise InvalidAction(str(exc)) from exc
    if kind_of(action) == "task":
        if not action.input_uri:
            raise InvalidAction("action.input_uri is empty; a task needs its inputs")
        if not action.run_output_base:
            raise InvalidAction("action.run_output_base is empty; a task needs somewhere to write its outputs")
        if not action.task.spec.HasField("task_template"):
            raise InvalidAction("action.task.spec.task_template is missing")


def embedded_template(action: actions_service_pb2.Action, run_spec: run_pb2.RunSpec | None) -> tasks_pb2.TaskTemplate:
    """substituteRunStartTime: only when the RunSpec carries a start time."""
    template = tasks_pb2.TaskTemplate()
    template.CopyFrom(action.task.spec.task_template)
    if run_spec is not None and run_spec.HasField("run_start_time") and template.HasField("container"):
        start = rfc3339(run_spec.run_start_time.ToDatetime(UTC))  # Go's time.RFC3339: no fraction
        args = [arg.replace(RUN_START_TIME, start) for arg in template.container.args]
        del template.container.args[:]
        template.container.args.extend(args)
    return template


def _base(action: actions_service_pb2.Action, namespace: str, action_type: str) -> dict[str, Any]:
    run_id, name, parent = action.action_id.run, action.action_id.name, parent_of(action)
    spec: dict[str, Any] = {"runName": run_id.name, "project": run_id.project, "domain": run_id.domain, "actionName": name}
    if parent is not None:
        spec["parentActionName"] = parent
    if action.group:
        spec["group"] = action.group
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": {
            "name": taskaction_name(run_id.name, name),
            "namespace": namespace,
            "labels": manifests.action_labels(
                run=run_id.name, action=name, project=run_id.project, domain=run_id.domain,
                is_root=parent is None, action_type=action_type,
            ),
        },
        "spec": spec,
    }


def apply_run_spec(body: dict[str, Any], run_spec: run_pb2.RunSpec) -> dict[str, Any]:
    """applyRunSpecToTaskAction (root task actions): labels added (ours kept), annotations, envs, interruptible."""
    meta, spec = body["metadata"], body["spec"]
    meta["labels"] = manifests.merge_missing(meta["labels"], dict(run_spec.labels.values))
    if run_spec.annotations.values:
        meta["annotations"] = dict(run_spec.annotations.values)
    if run_spec.envs.values:
        spec["envVars"] = {pair.key: pair.value for pair in run_spec.envs.values}
    if run_spec.HasField("interruptible"):
        spec["interruptible"] = run_spec.interruptible.value
    return body


def task_body(
    action: actions_service_pb2.Action, namespace: str, run_spec: run_pb2.RunSpec | None, parent: dict[str, Any] | None
) -> dict[str, Any]:
    template = embedded_template(action, run_spec)
    body = _base(action, namespace, c.ACTION_TYPE_TASK)
    spec = body["spec"]
    spec["inputUri"] = action.input_uri
    spec["runOutputBase"] = action.run_output_base
    spec["taskType"] = template.type
    if action.task.spec.short_name:
        spec["shortName"] = action.task.spec.short_name
    if action.task.HasField("cache_key") and action.task.cache_key.value:
        spec["cacheKey"] = action.task.cache_key.value
    spec["taskTemplate"] = encode_task_template(template)
    if parent is None:
        return apply_run_spec(body, run_spec) if run_spec is not None else body
    return manifests.with_owner(manifests.inherit_from_parent(body, parent), parent)


def condition_body(action: actions_service_pb2.Action, namespace: str, parent: dict[str, Any] | None) -> dict[str, Any]:
    declared = action.condition.type.simple if action.condition.type.WhichOneof("type") == "simple" else None
    if declared not in SIGNALLABLE_TYPES:
        raise InvalidAction("a condition's type must be a simple BOOLEAN, INTEGER, FLOAT or STRING")
    body = _base(action, namespace, c.ACTION_TYPE_CONDITION)
    body["spec"]["actionType"] = c.ACTION_TYPE_CONDITION
    body["spec"]["conditionSpec"] = base64.b64encode(action.condition.SerializeToString()).decode()
    return body if parent is None else manifests.with_owner(body, parent)


def taskaction_for(
    action: actions_service_pb2.Action,
    namespace: str,
    run_spec: run_pb2.RunSpec | None = None,
    parent: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The TaskAction to create for a task or condition action; `parent` is the parent's TaskAction (children)."""
    validate(action, namespace)
    kind = kind_of(action)
    if parent_of(action) is not None and parent is None:
        raise InvalidAction(f"action {action.action_id.name!r} names parent {parent_of(action)!r}, which was not given")
    if kind == "task":
        return task_body(action, namespace, run_spec, parent)
    if kind == "condition":
        return condition_body(action, namespace, parent)
    raise InvalidAction(f"a {kind} action has no TaskAction")
