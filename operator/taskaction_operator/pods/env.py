"""The environment the operator appends to every container of a task pod: the executor's decoration in its order
(flyteplugins' flytek8s k8s_resource_adds.go DecorateEnvVars), and what a container needs to reach the store
(`storage_env`, also given to the bundle's init container)."""

from __future__ import annotations

from typing import Any

from flyteidl2.core import tasks_pb2

from ..api.models import TaskAction
from ..settings import Settings
from .naming import retry_index

ORG_NAME = "local"
SECRET_KEYS = {"ACCESS_KEY_ID": "access-key-id", "SECRET_ACCESS_KEY": "secret-access-key"}


def env_var(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def storage_env(settings: Settings) -> list[dict[str, Any]]:
    """What a task pod needs to reach the store: FLYTE_AWS_* for the Flyte SDK, AWS_* for everything else."""
    env: list[dict[str, Any]] = []
    for prefix in ("FLYTE_AWS_", "AWS_"):
        if settings.pod_storage_endpoint:
            env.append(env_var(prefix + ("ENDPOINT" if prefix == "FLYTE_AWS_" else "ENDPOINT_URL"), settings.pod_storage_endpoint))
        if settings.pod_storage_region:
            env.append(env_var(prefix + "REGION", settings.pod_storage_region))
        if settings.pod_storage_secret:
            env += [
                {"name": prefix + var, "valueFrom": {"secretKeyRef": {"name": settings.pod_storage_secret, "key": key}}}
                for var, key in SECRET_KEYS.items()
            ]
    return env


def flyte_env(ta: TaskAction, template: tasks_pb2.TaskTemplate, attempt: int, settings: Settings) -> list[dict[str, Any]]:
    """The env the executor appends after the container's own, in its order (DecorateEnvVars); `attempt` 1-based."""
    spec = ta.spec
    env = [
        env_var("FLYTE_INTERNAL_EXECUTION_ID", spec.run_name),
        env_var("FLYTE_INTERNAL_EXECUTION_PROJECT", spec.project),
        env_var("FLYTE_INTERNAL_EXECUTION_DOMAIN", spec.domain),
        {"name": "_F_PN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        env_var("FLYTE_ATTEMPT_NUMBER", str(retry_index(attempt))),
    ]
    if template.HasField("id"):
        tid = template.id
        for prefix in ("FLYTE_INTERNAL_TASK_", "FLYTE_INTERNAL_"):
            env += [
                env_var(prefix + "PROJECT", tid.project),
                env_var(prefix + "DOMAIN", tid.domain),
                env_var(prefix + "NAME", tid.name),
                env_var(prefix + "VERSION", tid.version),
            ]
    reserved = {
        "ACTION_NAME": spec.action_name,
        "RUN_NAME": spec.run_name,
        "_U_RUN_BASE": spec.run_output_base or "",
        "_U_ORG_NAME": ORG_NAME,
    }
    env += [env_var(k, v) for k, v in reserved.items()]
    env += [env_var(k, v) for k, v in sorted((spec.env_vars or {}).items()) if k not in reserved]
    env += [env_var(k, v) for k, v in settings.default_env_vars.items()]
    return env
