"""Builders of real objects for the unit tier: flyteidl2 protobufs and TaskAction/Pod dicts shaped as the API
server returns them (camelCase JSON, base64 byte fields, RFC 3339 timestamps). No mocks."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from flyteidl2.core import identifier_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flyteidl2.workflow import run_definition_pb2
from google.protobuf import duration_pb2, struct_pb2

from taskaction_operator.api import constants as c
from taskaction_operator.api.times import rfc3339
from taskaction_operator.reconcile import plugin_state

# A fixed controller clock; creationTimestamp of the default TaskAction is one minute earlier.
NOW = datetime(2026, 8, 8, 12, 0, 0, tzinfo=UTC)
CREATED = NOW - timedelta(minutes=1)

# The example of docs/upstream-contract.md, "Output paths".
NAMESPACE = "flyte"
RUN = "rabc123"
ROOT_NAME = "rabc123-a0"
RUN_BASE = "s3://flyte-data/flytesnacks/development/rabc123/"
ROOT_OUTPUT_1 = "s3://flyte-data/oc/flytesnacks/development/rabc123/a0/1"
INPUT_URI = "s3://flyte-data/flytesnacks/development/rabc123/a0/inputs.pb"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def task_template(
    *,
    name: str | None = "my_module.say_hello",
    project: str = "flytesnacks",
    domain: str = "development",
    version: str = "v1",
    task_type: str = "python",
    image: str = "python:3.11",
    command: list[str] | None = None,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    retries: int = 0,
    requests: dict[int, str] | None = None,
    limits: dict[int, str] | None = None,
    service_account: str | None = None,
    secrets: bool = False,
) -> tasks_pb2.TaskTemplate:
    """A container-target TaskTemplate as the SDK emits it."""
    template = tasks_pb2.TaskTemplate(type=task_type)
    if name is not None:
        template.id.CopyFrom(
            identifier_pb2.Identifier(
                resource_type=identifier_pb2.TASK, project=project, domain=domain, name=name, version=version
            )
        )
    template.metadata.retries.retries = retries
    template.metadata.runtime.type = tasks_pb2.RuntimeMetadata.FLYTE_SDK
    container = template.container
    container.image = image
    container.command.extend(command or [])
    container.args.extend(args if args is not None else ["a0", "--inputs", "{{.input}}", "--outputs-path", "{{.outputPrefix}}"])
    for key, value in (env or {}).items():
        container.env.add(key=key, value=value)
    for name_, value in (requests or {}).items():
        container.resources.requests.add(name=name_, value=value)
    for name_, value in (limits or {}).items():
        container.resources.limits.add(name=name_, value=value)
    if service_account:
        template.security_context.run_as.k8s_service_account = service_account
    if secrets:
        template.security_context.secrets.add(group="g", key="k")
    return template


def container_task(*, inputs: bool = True, outputs: bool = True, storage: str | None = None) -> tasks_pb2.TaskTemplate:
    """The SDK's ContainerTask (flyte.extras.ContainerTask): a raw container whose data_config turns CoPilot on;
    one integer in (x), one out (o0), the SDK's default paths and format."""
    template = task_template(task_type="raw-container", image="alpine:3.20", command=["sh", "-c"], args=["expr $(cat /var/inputs/x) '*' 3 > /var/outputs/o0"])
    integer = interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.INTEGER))
    if inputs:
        template.interface.inputs.variables.add(key="x", value=integer)
    if outputs:
        template.interface.outputs.variables.add(key="o0", value=integer)
    config = template.container.data_config
    config.enabled, config.input_path, config.output_path, config.format = True, "/var/inputs", "/var/outputs", tasks_pb2.DataLoadingConfig.JSON
    if storage:
        template.container.resources.limits.add(name=tasks_pb2.Resources.STORAGE, value=storage)
    return template


def k8s_pod_template(
    pod_spec: dict[str, Any],
    *,
    primary: str | None = "primary",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    name: str = "my_module.pod_task",
) -> tasks_pb2.TaskTemplate:
    """A k8s_pod-target TaskTemplate (SDK `pod_template=flyte.PodTemplate(...)`)."""
    template = tasks_pb2.TaskTemplate(type="python")
    template.id.CopyFrom(identifier_pb2.Identifier(resource_type=identifier_pb2.TASK, project="p", domain="d", name=name, version="v"))
    spec = struct_pb2.Struct()
    spec.update(pod_spec)
    template.k8s_pod.pod_spec.CopyFrom(spec)
    for key, value in (labels or {}).items():
        template.k8s_pod.metadata.labels[key] = value
    for key, value in (annotations or {}).items():
        template.k8s_pod.metadata.annotations[key] = value
    if primary:
        template.config["primary_container_name"] = primary
    return template


def encode(message: Any) -> str:
    return b64(message.SerializeToString())


def spec(template: tasks_pb2.TaskTemplate | None = None, **overrides: Any) -> dict[str, Any]:
    value = {
        "runName": RUN,
        "project": "flytesnacks",
        "domain": "development",
        "actionName": "a0",
        "taskType": "python",
        "inputUri": INPUT_URI,
        "runOutputBase": RUN_BASE,
        "taskTemplate": encode(template if template is not None else task_template()),
    }
    value.update(overrides)
    return {k: v for k, v in value.items() if v is not None}


def taskaction(
    *,
    name: str = ROOT_NAME,
    namespace: str = NAMESPACE,
    uid: str = "11111111-2222-3333-4444-555555555555",
    spec_: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
    owner_references: list[dict[str, Any]] | None = None,
    resource_version: str = "1000",
    created: datetime = CREATED,
    deleting: bool = False,
) -> dict[str, Any]:
    """A TaskAction as `GET` returns it."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "resourceVersion": resource_version,
        "generation": 1,
        "creationTimestamp": rfc3339(created),
        "labels": dict(labels) if labels is not None else {"flyte.org/run": RUN, "flyte.org/action": "a0"},
    }
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    if finalizers:
        metadata["finalizers"] = list(finalizers)
    if owner_references is not None:
        metadata["ownerReferences"] = copy.deepcopy(owner_references)
    if deleting:
        metadata["deletionTimestamp"] = rfc3339(NOW)
        metadata["deletionGracePeriodSeconds"] = 0
    body: dict[str, Any] = {
        "apiVersion": c.API_VERSION,
        "kind": c.KIND,
        "metadata": metadata,
        "spec": spec_ if spec_ is not None else spec(),
    }
    if status is not None:
        body["status"] = copy.deepcopy(status)
    return body


def started_status(attempts: int = 1, system_failures: int = 0, **extra: Any) -> dict[str, Any]:
    """The status right after our pod was created for `attempts`."""
    status: dict[str, Any] = {
        "attempts": attempts,
        "systemFailures": system_failures,
        "cacheStatus": 0,
        "pluginPhase": "PhaseQueued",
        "pluginPhaseVersion": 0,
        "conditions": [
            {
                "type": c.CONDITION_PROGRESSING,
                "status": "True",
                "reason": c.REASON_QUEUED,
                "message": "task submitted to K8s",
                "lastTransitionTime": rfc3339(CREATED),
            }
        ],
        "phaseHistory": [{"phase": c.REASON_QUEUED, "occurredAt": rfc3339(CREATED), "message": "task submitted to K8s"}],
    }
    plugin_state.started(status)
    status.update(extra)
    return status


def apply_status(body: dict[str, Any], patch: dict[str, Any] | None, resource_version: str | None = None) -> dict[str, Any]:
    """What the API server returns after a JSON merge patch of status (None deletes a key)."""
    out = copy.deepcopy(body)
    status = out.setdefault("status", {})
    for key, value in (patch or {}).items():
        if value is None:
            status.pop(key, None)
        else:
            status[key] = copy.deepcopy(value)
    out["metadata"]["resourceVersion"] = resource_version or str(int(out["metadata"]["resourceVersion"]) + 1)
    return out


def apply_metadata(body: dict[str, Any], patch: dict[str, Any] | None) -> dict[str, Any]:
    out = copy.deepcopy(body)
    for key, value in (patch or {}).items():
        if isinstance(value, dict) and isinstance(out["metadata"].get(key), dict):
            out["metadata"][key] = {**out["metadata"][key], **value}
        else:
            out["metadata"][key] = copy.deepcopy(value)
    return out


# Pods ---------------------------------------------------------------------------------------------------------


def terminated(exit_code: int, reason: str = "", message: str = "") -> dict[str, Any]:
    state: dict[str, Any] = {"exitCode": exit_code, "startedAt": rfc3339(CREATED), "finishedAt": rfc3339(NOW)}
    if reason:
        state["reason"] = reason
    if message:
        state["message"] = message
    return {"terminated": state}


def container_status(
    name: str,
    state: dict[str, Any] | None = None,
    *,
    ready: bool = False,
    last_state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "image": "python:3.11",
        "imageID": "",
        "ready": ready,
        "restartCount": 0,
        "started": False,
        "state": state or {"running": {"startedAt": rfc3339(CREATED)}},
        "lastState": last_state or {},
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    value = {"reason": reason}
    if message:
        value["message"] = message
    return {"waiting": value}


def pod_condition(type_: str, status: str, reason: str = "", message: str = "", since: datetime = CREATED) -> dict[str, Any]:
    cond = {"type": type_, "status": status, "lastTransitionTime": rfc3339(since)}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def pod(
    name: str = ROOT_NAME + "-0",
    *,
    phase: str = "Pending",
    primary: str | None = "__name__",
    container_statuses: list[dict[str, Any]] | None = None,
    init_container_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    reason: str | None = None,
    message: str | None = None,
    containers: list[str] | None = None,
    deleting: bool = False,
    namespace: str = NAMESPACE,
    owner: str = ROOT_NAME,
) -> dict[str, Any]:
    """A pod as the API server returns it; `primary="__name__"` annotates the pod's own name as primary."""
    annotations = {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
    if primary == "__name__":
        primary = name
    if primary:
        annotations["primary_container_name"] = primary
    names = containers or [name]
    status: dict[str, Any] = {"phase": phase}
    if container_statuses is not None:
        status["containerStatuses"] = container_statuses
    if init_container_statuses is not None:
        status["initContainerStatuses"] = init_container_statuses
    if conditions is not None:
        status["conditions"] = conditions
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": "pod-" + name,
        "resourceVersion": "2000",
        "creationTimestamp": rfc3339(CREATED),
        "labels": {c.LABEL_MANAGED: "true"},
        "annotations": annotations,
        "ownerReferences": [
            {"apiVersion": c.API_VERSION, "kind": c.KIND, "name": owner, "uid": "11111111-2222-3333-4444-555555555555", "controller": True}
        ],
    }
    if deleting:
        metadata["deletionTimestamp"] = rfc3339(NOW)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": n, "image": "python:3.11"} for n in names], "restartPolicy": "Never"},
        "status": status,
    }


def running_pod(name: str = ROOT_NAME + "-0") -> dict[str, Any]:
    return pod(
        name,
        phase="Running",
        container_statuses=[container_status(name, {"running": {"startedAt": rfc3339(CREATED)}}, ready=True)],
        conditions=[pod_condition("Ready", "True"), pod_condition("PodScheduled", "True")],
    )


def succeeded_pod(name: str = ROOT_NAME + "-0") -> dict[str, Any]:
    return pod(name, phase="Succeeded", container_statuses=[container_status(name, terminated(0, "Completed"))])


def failed_pod(name: str = ROOT_NAME + "-0", exit_code: int = 1, reason: str = "Error", pod_reason: str | None = None) -> dict[str, Any]:
    return pod(name, phase="Failed", reason=pod_reason, container_statuses=[container_status(name, terminated(exit_code, reason))])


# Conditions (HITL) --------------------------------------------------------------------------------------------


def condition_action(name: str = "approve", timeout_seconds: float | None = None) -> run_definition_pb2.ConditionAction:
    action = run_definition_pb2.ConditionAction(name=name, prompt="Approve?")
    action.type.simple = types_pb2.BOOLEAN
    if timeout_seconds is not None:
        action.timeout.CopyFrom(duration_pb2.Duration(seconds=int(timeout_seconds), nanos=int(round((timeout_seconds % 1) * 1e9))))
    return action


def bool_literal(value: bool = True) -> literals_pb2.Literal:
    literal = literals_pb2.Literal()
    literal.scalar.primitive.boolean = value
    return literal


def condition_taskaction(
    *, condition_spec: str | None, status: dict[str, Any] | None = None, name: str = "rabc123-approve", created: datetime = CREATED
) -> dict[str, Any]:
    spec_ = {
        "runName": RUN,
        "project": "flytesnacks",
        "domain": "development",
        "actionName": "approve",
        "parentActionName": "a0",
        "actionType": "condition",
    }
    if condition_spec is not None:
        spec_["conditionSpec"] = condition_spec
    return taskaction(name=name, spec_=spec_, status=status, created=created, labels={"flyte.org/action-type": "condition"})


# A tiny stand-in for the API server's side of a plan: what the objects look like after the plan is carried out.


class World:
    """One TaskAction, its pods and optionally its parent, as plain dicts; `reconcile` runs the pure decision
    with the pod of the current attempt and then applies the plan the way the API server would."""

    def __init__(self, body: dict[str, Any], settings: Any, parent: dict[str, Any] | None = None) -> None:
        self.body = body
        self.settings = settings
        self.parent = parent
        self.pods: dict[str, dict[str, Any]] = {}
        self.created: list[str] = []
        self.deleted: list[str] = []

    @property
    def status(self) -> dict[str, Any]:
        return self.body.get("status") or {}

    def current_pod_name(self) -> str:
        from taskaction_operator.reconcile.task import observed_attempts
        from taskaction_operator.pods.naming import pod_name

        return pod_name(self.body["metadata"]["name"], observed_attempts(self.status))

    def reconcile(self, now: datetime = NOW):
        from taskaction_operator.reconcile.task import reconcile_task

        plan = reconcile_task(self.body, self.pods.get(self.current_pod_name()), self.parent, now, self.settings)
        self.apply(plan)
        return plan

    def apply(self, plan: Any) -> None:
        if plan.metadata_patch:
            self.body = apply_metadata(self.body, plan.metadata_patch)
        if plan.delete_pod:
            self.deleted.append(plan.delete_pod)
            self.pods.pop(plan.delete_pod, None)
        if plan.create_pod is not None:
            created = copy.deepcopy(plan.create_pod)
            created["status"] = {"phase": "Pending"}
            self.pods[created["metadata"]["name"]] = created
            self.created.append(created["metadata"]["name"])
        if plan.status_patch is not None:
            self.body = apply_status(self.body, plan.status_patch)
        if plan.terminal_labels:
            self.body = apply_metadata(self.body, {"labels": plan.terminal_labels})
        if plan.remove_finalizer:
            finalizers = [f for f in self.body["metadata"].get("finalizers") or [] if f != c.FINALIZER]
            self.body = apply_metadata(self.body, {"finalizers": finalizers})

    def set_pod(self, pod_: dict[str, Any]) -> None:
        """The kubelet moved the current pod on: replace its status (keeping what we created)."""
        name = pod_["metadata"]["name"]
        assert name in self.pods, f"pod {name} was never created"
        merged = copy.deepcopy(self.pods[name])
        merged["status"] = copy.deepcopy(pod_["status"])
        if pod_["metadata"].get("deletionTimestamp"):
            merged["metadata"]["deletionTimestamp"] = pod_["metadata"]["deletionTimestamp"]
        self.pods[name] = merged


def condition_of(body_or_status: dict[str, Any], type_: str) -> dict[str, Any] | None:
    status = body_or_status.get("status", body_or_status) if "metadata" in body_or_status else body_or_status
    for cond in (status or {}).get("conditions") or []:
        if cond["type"] == type_:
            return cond
    return None


def cond_tuple(body_or_status: dict[str, Any], type_: str) -> tuple[str, str, str] | None:
    cond = condition_of(body_or_status, type_)
    return None if cond is None else (cond["status"], cond["reason"], cond["message"])
