"""Build TaskAction manifests the way the Flyte actions service names and labels them, from an image and a command.

Used by the examples, the tests and the benchmark; a real Flyte control plane builds the same from the SDK.
"""

from __future__ import annotations

from typing import Any

from flyteidl2.core import identifier_pb2, literals_pb2, tasks_pb2

from ..api import constants as c
from ..api.decoding import encode_task_template
from ..pods.naming import taskaction_name


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
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    env_vars: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A TaskAction with the actions service's name, labels and URIs; no ownerReferences (the operator adds them)."""
    base = f"{storage}/{project}/{domain}/{run}"
    spec: dict[str, Any] = {
        "runName": run,
        "project": project,
        "domain": domain,
        "actionName": action,
        "taskType": template.type,
        "shortName": template.id.name,
        "taskTemplate": encode_task_template(template),
        "inputUri": f"{base}/inputs" if parent is None else f"{base}/{action}/inputs.pb",
        "runOutputBase": f"{base}/",
    }
    if parent is not None:
        spec["parentActionName"] = parent
    if env_vars:
        spec["envVars"] = env_vars
    meta: dict[str, Any] = {
        "name": taskaction_name(run, action),
        "namespace": namespace,
        "labels": {
            **action_labels(run=run, action=action, project=project, domain=domain, is_root=parent is None),
            **(labels or {}),
        },
    }
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": c.API_VERSION, "kind": c.KIND, "metadata": meta, "spec": spec}
