"""The pod the pod tests build: a TaskAction of the shared builders, its template, an attempt, settings."""

from __future__ import annotations

from typing import Any

from flyteidl2.core import tasks_pb2

from taskaction_operator.api.models import TaskAction
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.settings import Settings

from ..builders import spec, task_template, taskaction

SDK_ARGS = [
    "a0", "--inputs", "{{.input}}", "--outputs-path", "{{.outputPrefix}}", "--version", "v1",
    "--raw-data-path", "{{.rawOutputDataPrefix}}", "--checkpoint-path", "{{.checkpointOutputPrefix}}",
    "--prev-checkpoint", "{{.prevCheckpointPrefix}}", "--run-name", "{{.runName}}", "--name", "{{.actionName}}",
]  # fmt: skip


def make(
    template: tasks_pb2.TaskTemplate | None = None,
    *,
    attempt: int = 1,
    settings: Settings | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec_overrides: Any,
) -> dict[str, Any]:
    template = template if template is not None else task_template(args=SDK_ARGS)
    body = taskaction(spec_=spec(template, **spec_overrides), labels=labels, annotations=annotations)
    return build_pod(TaskAction.model_validate(body), template, attempt, settings or Settings())


def env_of(container: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(e["name"], e.get("value", e.get("valueFrom"))) for e in container["env"]]

