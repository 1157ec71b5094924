"""Creating and aborting runs, the way the Flyte actions service does (flyteorg/flyte actions/k8s/client.go):

- `create_run` / `create_child` / `create_condition`: the TaskActions `<run>-a0` / `<run>-<action>` of
  `manifests`, a child under its existing parent;
- `submit`: any TaskAction manifest, names and labels checked, the namespace made if missing, a child given its
  parent's context and ownerReference; `order_for_submit` puts parents first;
- `abort`: delete the root (the garbage collector takes children and pods).

Every function takes the `KubeApi` (`kube.connect()`) first; objects are JSON dicts. Following a run is `trees`,
signalling a condition `signals`, inputs and outputs `action_io`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any, Unpack

from flyteidl2.core import tasks_pb2, types_pb2

from ..api import constants as c
from ..kube import ApiError, KubeApi
from ..pods.naming import taskaction_name
from .errors import ClientError, InvalidName, NotFound
from .manifests import (
    ActionOptions, action_labels, child_body, condition_body, inherit_from_parent, merge_missing, root_body, with_owner,
)
from .names import validate_action_name, validate_namespace, validate_names, validate_run_name

# kubectl apply's record of the old object: not the new one's.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


async def create_run(
    api: KubeApi,
    template: tasks_pb2.TaskTemplate,
    *,
    run: str,
    namespace: str = "flyte",
    project: str = "demo",
    domain: str = "development",
    storage: str = "s3://flyte-data",
    **options: Unpack[ActionOptions],
) -> dict[str, Any]:
    """Create the root TaskAction `<run>-a0` (and the namespace if missing); returns the created object."""
    body = root_body(template, run=run, namespace=namespace, project=project, domain=domain, storage=storage, **options)
    return await submit(api, body)


async def get_parent(api: KubeApi, namespace: str, run: str, parent_action: str) -> dict[str, Any]:
    name = taskaction_name(run, parent_action)
    parent = await api.get_taskaction(namespace, name)
    if parent is None:
        raise NotFound(f"parent TaskAction {namespace}/{name} (run {run!r}, action {parent_action!r}) does not exist")
    return parent


async def create_child(
    api: KubeApi,
    template: tasks_pb2.TaskTemplate,
    *,
    run: str,
    action: str,
    parent: str = c.ROOT_ACTION_NAME,
    namespace: str = "flyte",
    group: str | None = None,
    **options: Unpack[ActionOptions],
) -> dict[str, Any]:
    """Create `<run>-<action>` under the existing TaskAction of action `parent`."""
    validate_run_name(run)
    validate_action_name(action)
    validate_action_name(parent, "parent action name")
    validate_namespace(namespace)
    parent_obj = await get_parent(api, namespace, run, parent)
    body = child_body(template, parent_obj, action=action, group=group, **options)
    return await _create(api, body)


async def create_condition(
    api: KubeApi,
    *,
    run: str,
    action: str,
    parent: str = c.ROOT_ACTION_NAME,
    namespace: str = "flyte",
    simple_type: int = types_pb2.BOOLEAN,
    prompt: str = "",
    timeout_seconds: int = 0,
) -> dict[str, Any]:
    validate_run_name(run)
    validate_action_name(action)
    validate_namespace(namespace)
    parent_obj = await get_parent(api, namespace, run, parent)
    body = condition_body(parent_obj, action=action, simple_type=simple_type, prompt=prompt, timeout_seconds=timeout_seconds)
    return await _create(api, body)


async def _create(api: KubeApi, body: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    try:
        return await api.create_taskaction(meta["namespace"], body)
    except ApiError as exc:
        if exc.status == 409:
            raise ClientError(f"TaskAction {meta['namespace']}/{meta['name']} already exists") from exc
        if exc.status == 422:
            raise ClientError(f"TaskAction {meta['namespace']}/{meta['name']} was refused: {exc.message}") from exc
        raise


async def submit(api: KubeApi, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
    """Create any TaskAction manifest as the actions service would: names and labels checked, the namespace made if
    missing; a child gets the parent's context and the ownerReference (its parent must exist)."""
    body = copy.deepcopy(body)
    meta = body.setdefault("metadata", {})
    spec = body.get("spec") or {}
    if namespace and not meta.get("namespace"):
        meta["namespace"] = namespace
    ns = meta.get("namespace") or namespace or "default"
    meta["namespace"] = ns
    for key in ("runName", "actionName", "project", "domain"):
        if not spec.get(key):
            raise ClientError(f"TaskAction {meta.get('name', '?')}: spec.{key} is missing")
    run, action, parent = spec["runName"], spec["actionName"], spec.get("parentActionName")
    validate_names(run=run, action=action, project=spec["project"], domain=spec["domain"], namespace=ns, parent=parent)
    expected = taskaction_name(run, action)
    meta.setdefault("name", expected)
    if meta["name"] != expected:
        raise InvalidName(f"TaskAction name {meta['name']!r} should be {expected!r} for run {run!r}, action {action!r}")
    is_condition = spec.get("actionType") == c.ACTION_TYPE_CONDITION
    meta["labels"] = merge_missing(
        action_labels(
            run=run, action=action, project=spec["project"], domain=spec["domain"], is_root=parent is None,
            action_type=c.ACTION_TYPE_CONDITION if is_condition else c.ACTION_TYPE_TASK,
        ),
        meta.get("labels"),
    )
    await ensure_namespace_if_allowed(api, ns)
    if parent is not None:
        parent_obj = await get_parent(api, ns, run, parent)
        if not is_condition:
            body = inherit_from_parent(body, parent_obj)
        body = with_owner(body, parent_obj)
    return await _create(api, body)


async def ensure_namespace_if_allowed(api: KubeApi, namespace: str) -> None:
    """Make the namespace if missing, when the caller may: one with rights in that namespace only (the chart's
    `helm test` account) cannot read namespaces, and the create that follows says whether it exists."""
    try:
        await api.ensure_namespace(namespace)
    except ApiError as exc:
        if exc.status != 403:
            raise


def rerun_body(root: dict[str, Any], run: str) -> dict[str, Any]:
    """A new run of a root TaskAction: its spec (the task, inputs and environment) under a new run name, the outputs
    under the new run's base; the caller's labels and annotations kept, the operator's and flyte.org's not."""
    spec = copy.deepcopy(root["spec"])
    old = spec["runName"]
    base = spec["runOutputBase"]
    if not base.rstrip("/").endswith("/" + old):
        raise ClientError(f"run {old!r}: its runOutputBase {base!r} does not end with the run name; cannot place a new run beside it")
    spec["runOutputBase"] = base.rstrip("/")[: -len(old)] + run + "/"
    spec["runName"] = run
    meta = root["metadata"]
    labels = {k: v for k, v in (meta.get("labels") or {}).items() if not k.startswith(c.GROUP)}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if not k.startswith(c.GROUP) and k != LAST_APPLIED}
    metadata: dict[str, Any] = {"namespace": meta["namespace"], "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": root["apiVersion"], "kind": root["kind"], "metadata": metadata, "spec": spec}


def order_for_submit(bodies: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents before their children (a child's parent must exist when it is created)."""
    pending = list(bodies)
    done: set[tuple[str, str]] = set()
    ordered: list[dict[str, Any]] = []
    in_file = {((b.get("spec") or {}).get("runName"), (b.get("spec") or {}).get("actionName")) for b in pending}
    while pending:
        progressed = False
        for body in list(pending):
            spec = body.get("spec") or {}
            parent = spec.get("parentActionName")
            if parent is None or (spec.get("runName"), parent) in done or (spec.get("runName"), parent) not in in_file:
                ordered.append(body)
                done.add((spec.get("runName"), spec.get("actionName")))
                pending.remove(body)
                progressed = True
        if not progressed:  # a cycle: let the API calls report it
            ordered += pending
            break
    return ordered


async def abort(api: KubeApi, run: str, namespace: str = "flyte") -> bool:
    """Delete the root TaskAction (AbortAction); its children and pods follow through the garbage collector.
    False when the root was already gone."""
    validate_run_name(run)
    return await api.delete_taskaction(namespace, taskaction_name(run, c.ROOT_ACTION_NAME))
