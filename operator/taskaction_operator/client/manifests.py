"""TaskAction manifests as the Flyte actions service builds them (flyteorg/flyte actions/k8s/client.go): the name,
the six `flyte.org/*` labels and the URIs of a root (`root_body`, `taskaction`), a task child with its parent's context
and ownerReference (`child_body`: inheritRunContextFromParentTaskAction, setParentOwnership), a condition child
(`condition_body`); and a TaskTemplate from an image and a command (`container_template`).

Pure: JSON dicts in and out. Used by the client, the actions service, the examples, the tests and the benchmark; a real
Flyte control plane builds the same from the SDK.
"""

from __future__ import annotations

import base64
import copy
from typing import Any, TypedDict, Unpack

from flyteidl2.core import identifier_pb2, literals_pb2, tasks_pb2, types_pb2
from flyteidl2.workflow import run_definition_pb2
from google.protobuf import duration_pb2

from ..api import constants as c
from ..api.owners import parent_reference
from ..api.decoding import encode_task_template
from ..pods.naming import taskaction_name
from ..storage import paths
from .errors import ClientError, InvalidName
from .literals import SIGNALLABLE_FIELDS
from .names import validate_names


class ActionOptions(TypedDict, total=False):
    """What a caller may add to a task action besides its place in the run: the keyword arguments every builder
    (`taskaction`, `root_body`, `child_body`, `runs.create_run`, `runs.create_child`) takes and passes on."""

    labels: dict[str, str] | None
    annotations: dict[str, str] | None
    env_vars: dict[str, str] | None
    interruptible: bool | None


def container_template(
    image: str,
    args: list[str],
    *,
    command: list[str] | None = None,
    name: str = "task",
    project: str = "demo",
    domain: str = "development",
    version: str = "v1",
    task_type: str = "container",
    retries: int = 0,
    env: dict[str, str] | None = None,
    cpu: str | None = None,
    memory: str | None = None,
    pod_template_name: str = "",
) -> tasks_pb2.TaskTemplate:
    requests = []
    if cpu:
        requests.append(tasks_pb2.Resources.ResourceEntry(name=tasks_pb2.Resources.CPU, value=cpu))
    if memory:
        requests.append(tasks_pb2.Resources.ResourceEntry(name=tasks_pb2.Resources.MEMORY, value=memory))
    return tasks_pb2.TaskTemplate(
        id=identifier_pb2.Identifier(
            resource_type=identifier_pb2.TASK, project=project, domain=domain, name=name, version=version
        ),
        type=task_type,
        metadata=tasks_pb2.TaskMetadata(retries=literals_pb2.RetryStrategy(retries=retries), pod_template_name=pod_template_name),
        container=tasks_pb2.Container(
            image=image,
            command=command or [],
            args=args,
            env=[literals_pb2.KeyValuePair(key=k, value=v) for k, v in (env or {}).items()],
            resources=tasks_pb2.Resources(requests=requests),
        ),
    )


def action_labels(
    *, run: str, action: str, project: str, domain: str, is_root: bool, action_type: str = c.ACTION_TYPE_TASK
) -> dict[str, str]:
    """The labels the Flyte actions service puts on every TaskAction it creates."""
    return {
        c.LABEL_PROJECT: project,
        c.LABEL_DOMAIN: domain,
        c.LABEL_RUN: run,
        c.LABEL_ACTION: action,
        c.LABEL_ACTION_TYPE: action_type,
        c.LABEL_IS_ROOT: "true" if is_root else "false",
    }


def taskaction(
    template: tasks_pb2.TaskTemplate,
    *,
    run: str,
    action: str = c.ROOT_ACTION_NAME,
    parent: str | None = None,
    namespace: str = "default",
    project: str = "demo",
    domain: str = "development",
    storage: str = "s3://flyte-data",
    **options: Unpack[ActionOptions],
) -> dict[str, Any]:
    """A TaskAction with the actions service's name, labels and URIs; no ownerReferences (the operator adds them).
    The caller's labels are added, the `flyte.org/*` ones kept (applyRunSpecToTaskAction)."""
    unexpected = options.keys() - ActionOptions.__optional_keys__
    if unexpected:
        raise TypeError(f"taskaction() got unexpected keyword arguments: {', '.join(sorted(unexpected))}")
    base = f"{storage}/{project}/{domain}/{run}"
    spec: dict[str, Any] = {
        "runName": run,
        "project": project,
        "domain": domain,
        "actionName": action,
        "taskType": template.type,
        "shortName": template.id.name,
        "taskTemplate": encode_task_template(template),
        "inputUri": f"{base}/inputs" if parent is None else f"{base}/{action}/{paths.INPUTS_FILE}",
        "runOutputBase": f"{base}/",
    }
    if parent is not None:
        spec["parentActionName"] = parent
    if options.get("env_vars"):
        spec["envVars"] = options["env_vars"]
    if options.get("interruptible") is not None:
        spec["interruptible"] = options["interruptible"]
    meta: dict[str, Any] = {
        "name": taskaction_name(run, action),
        "namespace": namespace,
        "labels": merge_missing(
            action_labels(run=run, action=action, project=project, domain=domain, is_root=parent is None),
            options.get("labels"),
        ),
    }
    if options.get("annotations"):
        meta["annotations"] = dict(options["annotations"])
    return {"apiVersion": c.API_VERSION, "kind": c.KIND, "metadata": meta, "spec": spec}


def merge_missing(target: dict[str, str] | None, source: dict[str, str] | None) -> dict[str, str]:
    """`target` plus the keys of `source` it does not have (values already in `target` win)."""
    merged = dict(target or {})
    for key, value in (source or {}).items():
        merged.setdefault(key, value)
    return merged


TERMINAL_LABELS = frozenset({c.LABEL_TERMINATION_STATUS, c.LABEL_COMPLETED_TIME})


def inherit_from_parent(body: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
    """inheritRunContextFromParentTaskAction (task children only): envVars, interruptible, labels and annotations
    of the parent, never overwriting what the child has. Returns a new dict."""
    body = copy.deepcopy(body)
    spec, meta = body["spec"], body["metadata"]
    pspec, pmeta = parent.get("spec") or {}, parent.get("metadata") or {}
    env = merge_missing(spec.get("envVars"), pspec.get("envVars"))
    if env:
        spec["envVars"] = env
    if spec.get("interruptible") is None and pspec.get("interruptible") is not None:
        spec["interruptible"] = pspec["interruptible"]
    # Not the parent's terminal labels: they say the parent ended, and a child born with them would be taken for a
    # finished action (its store entry slimmed, its reconcile short-circuited) without ever running. Upstream copies
    # every label, but its parents enqueue only while running; a parent that ended meanwhile (the hub's view, a
    # retried call) must not end its children.
    inherited = {k: v for k, v in (pmeta.get("labels") or {}).items() if k not in TERMINAL_LABELS}
    meta["labels"] = merge_missing(meta.get("labels"), inherited)
    annotations = merge_missing(meta.get("annotations"), pmeta.get("annotations"))
    if annotations:
        meta["annotations"] = annotations
    return body


def with_owner(body: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["metadata"]["ownerReferences"] = [parent_reference(parent)]
    return body


def root_body(
    template: tasks_pb2.TaskTemplate,
    *,
    run: str,
    namespace: str,
    project: str,
    domain: str,
    storage: str = "s3://flyte-data",
    **options: Unpack[ActionOptions],
) -> dict[str, Any]:
    """The root TaskAction `<run>-a0` of a new run, its names checked first."""
    validate_names(run=run, action=c.ROOT_ACTION_NAME, project=project, domain=domain, namespace=namespace)
    return taskaction(
        template, run=run, namespace=namespace, project=project, domain=domain, storage=storage.rstrip("/"), **options
    )


def child_body(
    template: tasks_pb2.TaskTemplate,
    parent: dict[str, Any],
    *,
    action: str,
    group: str | None = None,
    **options: Unpack[ActionOptions],
) -> dict[str, Any]:
    """A task child of `parent` (an existing TaskAction): inputs under the parent's run base, as the SDK does."""
    pspec, pmeta = parent["spec"], parent["metadata"]
    run, project, domain, namespace = pspec["runName"], pspec["project"], pspec["domain"], pmeta["namespace"]
    parent_action = pspec["actionName"]
    validate_names(run=run, action=action, project=project, domain=domain, namespace=namespace, parent=parent_action)
    if action in (c.ROOT_ACTION_NAME, run):
        raise InvalidName(f"action name {action!r} is the root's name; a child needs another")
    base = pspec.get("runOutputBase") or ""
    body = taskaction(
        template, run=run, action=action, parent=parent_action, namespace=namespace, project=project, domain=domain,
        **options,
    )
    body["spec"]["runOutputBase"] = base
    body["spec"]["inputUri"] = f"{base.rstrip('/')}/{action}/{paths.INPUTS_FILE}"
    if group:
        body["spec"]["group"] = group
    return with_owner(inherit_from_parent(body, parent), parent)


def condition_body(
    parent: dict[str, Any],
    *,
    action: str,
    name: str | None = None,
    simple_type: int = types_pb2.BOOLEAN,
    prompt: str = "",
    description: str = "",
    timeout_seconds: int = 0,
) -> dict[str, Any]:
    """A condition child (human in the loop): no template, no inheritance, the ownerReference to the parent."""
    pspec, pmeta = parent["spec"], parent["metadata"]
    run, project, domain, namespace = pspec["runName"], pspec["project"], pspec["domain"], pmeta["namespace"]
    validate_names(run=run, action=action, project=project, domain=domain, namespace=namespace, parent=pspec["actionName"])
    if simple_type not in SIGNALLABLE_FIELDS:
        raise ClientError(
            f"a condition's type must be BOOLEAN, INTEGER, FLOAT or STRING, not {types_pb2.SimpleType.Name(simple_type)}"
        )
    spec = run_definition_pb2.ConditionAction(
        name=name or action, type=types_pb2.LiteralType(simple=simple_type), prompt=prompt, description=description
    )
    if timeout_seconds:
        spec.timeout.CopyFrom(duration_pb2.Duration(seconds=timeout_seconds))
    body = {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": {
            "name": taskaction_name(run, action),
            "namespace": namespace,
            "labels": action_labels(run=run, action=action, project=project, domain=domain, is_root=False, action_type=c.ACTION_TYPE_CONDITION),
        },
        "spec": {
            "runName": run,
            "project": project,
            "domain": domain,
            "actionName": action,
            "parentActionName": pspec["actionName"],
            "actionType": c.ACTION_TYPE_CONDITION,
            "conditionSpec": base64.b64encode(spec.SerializeToString()).decode(),
        },
    }
    return with_owner(body, parent)
