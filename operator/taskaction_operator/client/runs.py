"""Runs, the way the Flyte actions service makes and reads them (flyteorg/flyte actions/k8s/client.go):

- `create_run` / `create_child` / `create_condition`: TaskActions named `<run>-a0` / `<run>-<action>`, with the
  six `flyte.org/*` labels, children inheriting the parent's envVars, interruptible, labels and annotations without
  overwriting, and one ownerReference to the parent (`blockOwnerDeletion: true`, no `controller`);
- `phase_of`: GetPhaseFromConditions; `get_run` / `watch_run`: the tree of a run; `output_uri`: BuildOutputUri;
- `abort`: delete the root (the garbage collector takes children and pods); `signal`: a condition's value;
- `write_inputs` / `read_outputs`: `inputs.pb` / `outputs.pb` with plain Python values.

Every function takes the `KubeApi` (`client.kube.connect()`) first; objects are JSON dicts.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from flyteidl2.common import phase_pb2
from flyteidl2.core import literals_pb2, tasks_pb2, types_pb2
from flyteidl2.task import common_pb2
from flyteidl2.workflow import run_definition_pb2
from google.protobuf import duration_pb2

from ..api import constants as c
from ..pods.naming import taskaction_name
from ..settings import Settings
from ..storage import paths
from ..storage.filesystems import LOCAL_SCHEMES, filesystem_for, scheme_of
from . import manifests
from ..kube import ApiError, KubeApi

Phase = int  # a flyteidl2.common.phase_pb2.ActionPhase value

TERMINAL_PHASES = frozenset(
    {
        phase_pb2.ACTION_PHASE_SUCCEEDED,
        phase_pb2.ACTION_PHASE_FAILED,
        phase_pb2.ACTION_PHASE_ABORTED,
        phase_pb2.ACTION_PHASE_TIMED_OUT,
        phase_pb2.ACTION_PHASE_RECOVERED,
    }
)

_PROGRESSING_PHASES = {
    c.REASON_QUEUED: phase_pb2.ACTION_PHASE_QUEUED,
    c.REASON_INITIALIZING: phase_pb2.ACTION_PHASE_INITIALIZING,
    c.REASON_EXECUTING: phase_pb2.ACTION_PHASE_RUNNING,
    c.REASON_PAUSED: phase_pb2.ACTION_PHASE_PAUSED,
}

MAX_RUN_NAME = 30
MAX_ACTION_NAME = 30
MAX_PROJECT_DOMAIN = 63
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(c.DNS1123_LABEL_PATTERN)
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
MAX_CR_NAME = 253


class ClientError(Exception):
    """A request the client refuses or the cluster cannot satisfy; the message says what is wrong."""


class InvalidName(ClientError, ValueError):
    pass


class NotFound(ClientError):
    pass


class SignalRefused(ClientError):
    """The condition cannot take this signal now (not a condition, already signalled otherwise, already ended)."""


class InvalidSignal(SignalRefused):
    """The value itself is wrong: not a simple primitive, or not the condition's declared type."""


# --- names --------------------------------------------------------------------------------------------------------


def _validate(value: str, what: str, limit: int, pattern: re.Pattern[str], rule: str) -> None:
    if not value:
        raise InvalidName(f"{what} is empty")
    if len(value) > limit:
        raise InvalidName(f"{what} {value!r} is {len(value)} characters long; at most {limit} are allowed")
    if not pattern.match(value):
        raise InvalidName(f"{what} {value!r} {rule}")


def validate_run_name(run: str) -> None:
    _validate(
        run, "run name", MAX_RUN_NAME, _DNS1035_LABEL,
        "is not a DNS-1035 label: lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
    )


def validate_action_name(action: str, what: str = "action name") -> None:
    _validate(
        action, what, MAX_ACTION_NAME, _DNS1123_LABEL,
        "must be lowercase letters, digits and '-', starting and ending with a letter or digit "
        "(it is part of the TaskAction's name and a label value)",
    )


def validate_scope(value: str, what: str) -> None:
    _validate(
        value, what, MAX_PROJECT_DOMAIN, _LABEL_VALUE,
        "is not a valid label value: letters, digits, '-', '_' and '.', starting and ending with a letter or digit",
    )


def validate_namespace(namespace: str) -> None:
    if not namespace or len(namespace) > 63 or not _DNS1123_LABEL.match(namespace):
        raise InvalidName(f"namespace {namespace!r} is not a DNS-1123 label (lowercase letters, digits, '-'; at most 63)")


def validate_names(*, run: str, action: str, project: str, domain: str, namespace: str, parent: str | None = None) -> None:
    validate_run_name(run)
    validate_action_name(action)
    if parent is not None:
        validate_action_name(parent, "parent action name")
    validate_scope(project, "project")
    validate_scope(domain, "domain")
    validate_namespace(namespace)


def merge_missing(target: dict[str, str] | None, source: dict[str, str] | None) -> dict[str, str]:
    """`target` plus the keys of `source` it does not have (values already in `target` win)."""
    merged = dict(target or {})
    for key, value in (source or {}).items():
        merged.setdefault(key, value)
    return merged


def owner_reference(parent: dict[str, Any]) -> dict[str, Any]:
    """setParentOwnership: one reference, blockOwnerDeletion true, no controller flag."""
    return {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "name": parent["metadata"]["name"],
        "uid": parent["metadata"]["uid"],
        "blockOwnerDeletion": True,
    }


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
    meta["labels"] = merge_missing(meta.get("labels"), pmeta.get("labels"))
    annotations = merge_missing(meta.get("annotations"), pmeta.get("annotations"))
    if annotations:
        meta["annotations"] = annotations
    return body


def with_owner(body: dict[str, Any], parent: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    body["metadata"]["ownerReferences"] = [owner_reference(parent)]
    return body


# --- creating -----------------------------------------------------------------------------------------------------


def root_body(
    template: tasks_pb2.TaskTemplate,
    *,
    run: str,
    namespace: str,
    project: str,
    domain: str,
    storage: str = "s3://flyte-data",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    env_vars: dict[str, str] | None = None,
    interruptible: bool | None = None,
) -> dict[str, Any]:
    validate_names(run=run, action=c.ROOT_ACTION_NAME, project=project, domain=domain, namespace=namespace)
    body = manifests.taskaction(
        template, run=run, namespace=namespace, project=project, domain=domain, storage=storage.rstrip("/"), env_vars=env_vars
    )
    # applyRunSpecToTaskAction: the run's labels are added, the flyte.org/* ones kept.
    body["metadata"]["labels"] = merge_missing(body["metadata"]["labels"], labels)
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
    if interruptible is not None:
        body["spec"]["interruptible"] = interruptible
    return body


def child_body(
    template: tasks_pb2.TaskTemplate,
    parent: dict[str, Any],
    *,
    action: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    env_vars: dict[str, str] | None = None,
    interruptible: bool | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """A task child of `parent` (an existing TaskAction): inputs under the parent's run base, as the SDK does."""
    pspec, pmeta = parent["spec"], parent["metadata"]
    run, project, domain, namespace = pspec["runName"], pspec["project"], pspec["domain"], pmeta["namespace"]
    parent_action = pspec["actionName"]
    validate_names(run=run, action=action, project=project, domain=domain, namespace=namespace, parent=parent_action)
    if action in (c.ROOT_ACTION_NAME, run):
        raise InvalidName(f"action name {action!r} is the root's name; a child needs another")
    base = pspec.get("runOutputBase") or ""
    body = manifests.taskaction(template, run=run, action=action, parent=parent_action, namespace=namespace, project=project, domain=domain, env_vars=env_vars)
    body["spec"]["runOutputBase"] = base
    body["spec"]["inputUri"] = f"{base.rstrip('/')}/{action}/{paths.INPUTS_FILE}"
    if group:
        body["spec"]["group"] = group
    if interruptible is not None:
        body["spec"]["interruptible"] = interruptible
    body["metadata"]["labels"] = merge_missing(body["metadata"]["labels"], labels)
    if annotations:
        body["metadata"]["annotations"] = dict(annotations)
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
            "labels": manifests.action_labels(run=run, action=action, project=project, domain=domain, is_root=False, action_type=c.ACTION_TYPE_CONDITION),
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


async def create_run(
    api: KubeApi,
    template: tasks_pb2.TaskTemplate,
    *,
    run: str,
    namespace: str = "flyte",
    project: str = "demo",
    domain: str = "development",
    storage: str = "s3://flyte-data",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    env_vars: dict[str, str] | None = None,
    interruptible: bool | None = None,
) -> dict[str, Any]:
    """Create the root TaskAction `<run>-a0` (and the namespace if missing); returns the created object."""
    body = root_body(
        template, run=run, namespace=namespace, project=project, domain=domain, storage=storage,
        labels=labels, annotations=annotations, env_vars=env_vars, interruptible=interruptible,
    )
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
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    env_vars: dict[str, str] | None = None,
    interruptible: bool | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """Create `<run>-<action>` under the existing TaskAction of action `parent`."""
    validate_run_name(run)
    validate_action_name(action)
    validate_action_name(parent, "parent action name")
    validate_namespace(namespace)
    parent_obj = await get_parent(api, namespace, run, parent)
    body = child_body(
        template, parent_obj, action=action, labels=labels, annotations=annotations,
        env_vars=env_vars, interruptible=interruptible, group=group,
    )
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
        manifests.action_labels(
            run=run, action=action, project=spec["project"], domain=spec["domain"], is_root=parent is None,
            action_type=c.ACTION_TYPE_CONDITION if is_condition else c.ACTION_TYPE_TASK,
        ),
        meta.get("labels"),
    )
    await api.ensure_namespace(ns)
    if parent is not None:
        parent_obj = await get_parent(api, ns, run, parent)
        if not is_condition:
            body = inherit_from_parent(body, parent_obj)
        body = with_owner(body, parent_obj)
    return await _create(api, body)


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


# --- reading ------------------------------------------------------------------------------------------------------


def phase_of(taskaction: dict[str, Any] | None) -> Phase:
    """GetPhaseFromConditions: the first condition in list order that says something."""
    for cond in ((taskaction or {}).get("status") or {}).get("conditions") or []:
        if cond.get("status") != "True":
            continue
        kind, reason = cond.get("type"), cond.get("reason")
        if kind == c.CONDITION_SUCCEEDED:
            return phase_pb2.ACTION_PHASE_SUCCEEDED
        if kind == c.CONDITION_FAILED:
            return phase_pb2.ACTION_PHASE_TIMED_OUT if reason == c.REASON_TIMED_OUT else phase_pb2.ACTION_PHASE_FAILED
        if kind == c.CONDITION_PROGRESSING:
            return _PROGRESSING_PHASES.get(reason, phase_pb2.ACTION_PHASE_UNSPECIFIED)
    return phase_pb2.ACTION_PHASE_UNSPECIFIED


def phase_name(phase: Phase) -> str:
    """`SUCCEEDED` for ACTION_PHASE_SUCCEEDED."""
    return phase_pb2.ActionPhase.Name(phase).removeprefix("ACTION_PHASE_")


def is_terminal(phase: Phase) -> bool:
    return phase in TERMINAL_PHASES


def output_uri(taskaction: dict[str, Any]) -> str:
    """BuildOutputUri: the directory of outputs.pb / error.pb of the current attempt."""
    meta, spec = taskaction["metadata"], taskaction["spec"]
    attempts = int((taskaction.get("status") or {}).get("attempts") or 0)
    return paths.action_output_prefix(meta["namespace"], meta["name"], spec["runOutputBase"], spec["actionName"], max(attempts, 1))


def _time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


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
        return _time(self.obj["metadata"].get("creationTimestamp"))

    @property
    def finished(self) -> dt.datetime | None:
        """When it reached its terminal phase (the last phaseHistory entry), None while it runs."""
        if not is_terminal(self.phase):
            return None
        history = (self.obj.get("status") or {}).get("phaseHistory") or []
        return _time(history[-1].get("occurredAt")) if history else None

    def duration(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        start = self.created
        if start is None:
            return None
        end = self.finished or (None if is_terminal(self.phase) else (now or dt.datetime.now(dt.timezone.utc)))
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


async def abort(api: KubeApi, run: str, namespace: str = "flyte") -> bool:
    """Delete the root TaskAction (AbortAction); its children and pods follow through the garbage collector.
    False when the root was already gone."""
    validate_run_name(run)
    return await api.delete_taskaction(namespace, taskaction_name(run, c.ROOT_ACTION_NAME))


# --- signals ------------------------------------------------------------------------------------------------------

SIGNALLABLE_FIELDS = {
    types_pb2.BOOLEAN: "boolean",
    types_pb2.INTEGER: "integer",
    types_pb2.FLOAT: "float_value",
    types_pb2.STRING: "string_value",
}


def to_literal(value: Any) -> literals_pb2.Literal:
    """A primitive literal from a Python bool, int, float or str (an existing Literal is returned as is)."""
    if isinstance(value, literals_pb2.Literal):
        return value
    if isinstance(value, bool):
        primitive = literals_pb2.Primitive(boolean=value)
    elif isinstance(value, int):
        primitive = literals_pb2.Primitive(integer=value)
    elif isinstance(value, float):
        primitive = literals_pb2.Primitive(float_value=value)
    elif isinstance(value, str):
        primitive = literals_pb2.Primitive(string_value=value)
    else:
        raise ClientError(f"only bool, int, float and str values are supported, not {type(value).__name__}")
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=primitive))


def from_literal(literal: literals_pb2.Literal) -> Any:
    """The Python value of a primitive literal (also none, collections and maps of them); other literals as is."""
    which = literal.WhichOneof("value")
    if which == "scalar":
        scalar = literal.scalar
        kind = scalar.WhichOneof("value")
        if kind == "primitive":
            p = scalar.primitive
            field_name = p.WhichOneof("value")
            if field_name == "datetime":
                return p.datetime.ToDatetime(dt.timezone.utc)
            if field_name == "duration":
                return p.duration.ToTimedelta()
            return getattr(p, field_name) if field_name else None
        if kind == "none_type":
            return None
        return literal
    if which == "collection":
        return [from_literal(item) for item in literal.collection.literals]
    if which == "map":
        return {key: from_literal(item) for key, item in literal.map.literals.items()}
    return literal


def primitive_kind(literal: literals_pb2.Literal) -> str | None:
    if literal.WhichOneof("value") != "scalar" or literal.scalar.WhichOneof("value") != "primitive":
        return None
    return literal.scalar.primitive.WhichOneof("value")


def condition_spec(taskaction: dict[str, Any]) -> run_definition_pb2.ConditionAction:
    spec = taskaction.get("spec") or {}
    if spec.get("actionType") != c.ACTION_TYPE_CONDITION:
        raise SignalRefused(f"TaskAction {taskaction['metadata']['name']} is not a condition action")
    try:
        return run_definition_pb2.ConditionAction.FromString(base64.b64decode(spec.get("conditionSpec") or ""))
    except Exception as exc:  # malformed bytes: the operator fails it with InvalidSpec
        raise SignalRefused(f"TaskAction {taskaction['metadata']['name']}: conditionSpec does not decode: {exc}") from exc


def parse_signal_value(text: str, simple_type: int) -> literals_pb2.Literal:
    """A command-line value as the condition's declared type."""
    if simple_type == types_pb2.BOOLEAN:
        lowered = text.strip().lower()
        if lowered in ("true", "yes", "1", "y"):
            return to_literal(True)
        if lowered in ("false", "no", "0", "n"):
            return to_literal(False)
        raise SignalRefused(f"{text!r} is not a boolean (true/false)")
    try:
        if simple_type == types_pb2.INTEGER:
            return to_literal(int(text))
        if simple_type == types_pb2.FLOAT:
            return to_literal(float(text))
    except ValueError as exc:
        raise SignalRefused(f"{text!r} is not a{'n integer' if simple_type == types_pb2.INTEGER else ' float'}") from exc
    if simple_type == types_pb2.STRING:
        return to_literal(text)
    raise SignalRefused(f"the condition declares type {types_pb2.SimpleType.Name(simple_type)}, which cannot be signalled")


def check_signal(taskaction: dict[str, Any], literal: literals_pb2.Literal) -> bool:
    """Signal's checks, in its order. True when the same value was already signalled (nothing to write)."""
    name = taskaction["metadata"]["name"]
    kind = primitive_kind(literal)
    if kind not in SIGNALLABLE_FIELDS.values():
        raise InvalidSignal("the signal value must be a bool, int, float or string primitive literal")
    spec = condition_spec(taskaction)
    status = taskaction.get("status") or {}
    existing = status.get("signalValue")
    if existing:
        if base64.b64decode(existing) == literal.SerializeToString(deterministic=True):
            return True
        previous = literals_pb2.Literal.FromString(base64.b64decode(existing))
        raise SignalRefused(
            f"condition {name} was already signalled with {from_literal(previous)!r}"
            f" by {status.get('signalledBy') or 'someone'}; a different value is refused"
        )
    phase = phase_of(taskaction)
    if is_terminal(phase):
        raise SignalRefused(f"condition {name} is already {phase_name(phase)}")
    declared = spec.type.simple
    if SIGNALLABLE_FIELDS.get(declared) != kind:
        raise InvalidSignal(
            f"condition {name} expects a {types_pb2.SimpleType.Name(declared)}, not a {kind.replace('_value', '')}"
        )
    return False


async def signal(
    api: KubeApi, name: str, value: Any, by: str, namespace: str = "flyte", *, retries: int = 5
) -> dict[str, Any]:
    """Write status.signalValue / signalledBy / signalledAt of the condition TaskAction `name` (status subresource,
    guarded by resourceVersion, retried on conflict). The operator then marks it Succeeded."""
    literal = to_literal(value)
    for attempt in range(retries + 1):
        taskaction = await api.get_taskaction(namespace, name)
        if taskaction is None:
            raise NotFound(f"TaskAction {namespace}/{name} does not exist")
        if check_signal(taskaction, literal):
            return taskaction
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {
            "metadata": {"resourceVersion": taskaction["metadata"]["resourceVersion"]},
            "status": {
                "signalValue": base64.b64encode(literal.SerializeToString(deterministic=True)).decode(),
                "signalledBy": by,
                "signalledAt": now,
            },
        }
        try:
            return await api.patch_taskaction_status(namespace, name, patch)
        except ApiError as exc:
            if exc.status != 409 or attempt == retries:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


# --- inputs and outputs -------------------------------------------------------------------------------------------


def _file(uri: str, name: str) -> str:
    uri = uri.rstrip("/")
    return uri if uri.endswith("/" + name) else f"{uri}/{name}"


def inputs_message(**values: Any) -> common_pb2.Inputs:
    return common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name=k, value=to_literal(v)) for k, v in values.items()])


async def write_inputs(uri: str, *, settings: Settings | None = None, **values: Any) -> str:
    """Write `inputs.pb` (flyteidl2.task.Inputs) at `uri` (a prefix or the file); returns the file's URI."""
    path = _file(paths.input_prefix(uri.rstrip("/")), paths.INPUTS_FILE)
    data = inputs_message(**values).SerializeToString()
    fs = filesystem_for(path, settings or Settings())
    if scheme_of(path) in LOCAL_SCHEMES:
        await fs._makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    await fs._pipe_file(path, data)
    return path


def outputs_to_dict(data: bytes) -> dict[str, Any]:
    """outputs.pb (flyteidl2.task.Outputs; 0 bytes for a task without outputs) as Python values."""
    outputs = common_pb2.Outputs.FromString(data)
    return {named.name: from_literal(named.value) for named in outputs.literals}


async def read_outputs(uri: str, *, settings: Settings | None = None) -> dict[str, Any]:
    """The outputs of an action from its output prefix (`output_uri(ta)`) or the outputs.pb file itself."""
    path = _file(uri, "outputs.pb")
    fs = filesystem_for(path, settings or Settings())
    try:
        data = await fs._cat_file(path)
    except FileNotFoundError as exc:
        raise NotFound(f"no outputs at {path}") from exc
    return outputs_to_dict(data)
