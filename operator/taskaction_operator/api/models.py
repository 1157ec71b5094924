"""Pydantic models of TaskAction spec and status: the one source of the CRD schema.

Field names, limits and formats follow flyteorg/flyte executor/api/v1/taskaction_types.go. Byte fields
(`taskTemplate`, `conditionSpec`, `pluginState`, `signalValue`) stay base64 strings here, exactly as
they travel in JSON; `decoding` turns them into protobufs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

Base64 = Annotated[str, WithJsonSchema({"type": "string", "format": "byte"})]
Int32 = Annotated[int, Field(ge=0, le=2**31 - 1), WithJsonSchema({"type": "integer", "format": "int32"})]
Timestamp = Annotated[datetime, WithJsonSchema({"type": "string", "format": "date-time"})]

CONDITION_REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)


class _Model(BaseModel):
    # Unknown fields are dropped, as the API server prunes them from a structural schema.
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class TaskActionSpec(_Model):
    """What to execute: one action of a run."""

    run_name: str = Field(alias="runName", min_length=1, max_length=30, description="Name of the run this action belongs to.")
    project: str = Field(min_length=1, max_length=63, description="Project this action belongs to.")
    domain: str = Field(min_length=1, max_length=63, description="Domain this action belongs to.")
    action_name: str = Field(alias="actionName", min_length=1, max_length=30, description="Name of this action within the run.")
    parent_action_name: str | None = Field(
        None, alias="parentActionName", min_length=1, max_length=30, description="Name of the parent action; empty for the root."
    )
    action_type: Literal["task", "condition"] | None = Field(
        None, alias="actionType", description="task (default) runs a pod; condition waits for a signal."
    )
    condition_spec: Base64 | None = Field(
        None, alias="conditionSpec", description="Serialized flyteidl2.workflow.ConditionAction (condition actions)."
    )
    input_uri: str | None = Field(None, alias="inputUri", description="Where the inputs are (a prefix or .../inputs.pb).")
    run_output_base: str | None = Field(None, alias="runOutputBase", description="Base path of the run's outputs.")
    cache_key: str | None = Field(None, alias="cacheKey", max_length=256, description="Cache version of the task's outputs.")
    task_type: str | None = Field(None, alias="taskType", max_length=63, description="Task type, e.g. python or container.")
    short_name: str | None = Field(None, alias="shortName", max_length=63, description="Display name.")
    task_template: Base64 | None = Field(
        None, alias="taskTemplate", description="Serialized flyteidl2.core.TaskTemplate, inline."
    )
    env_vars: dict[str, str] | None = Field(None, alias="envVars", description="Run-scoped environment variables.")
    interruptible: bool | None = Field(None, description="Whether the pod may run on interruptible nodes.")
    group: str | None = Field(None, max_length=256, description="Group of the action in the run.")


class Condition(_Model):
    """metav1.Condition."""

    type: str = Field(max_length=316, pattern=CONDITION_TYPE_PATTERN)
    status: Literal["True", "False", "Unknown"]
    observed_generation: Annotated[int, Field(ge=0), WithJsonSchema({"type": "integer", "format": "int64", "minimum": 0})] | None = Field(
        None, alias="observedGeneration"
    )
    last_transition_time: Timestamp = Field(alias="lastTransitionTime")
    reason: str = Field(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)
    message: str = Field(max_length=32768)


class PhaseTransition(_Model):
    """One entry of the append-only phase history."""

    phase: str
    occurred_at: Timestamp = Field(alias="occurredAt")
    message: str | None = None


class ErrorState(_Model):
    """The last error, as the control plane forwards it to the SDK."""

    code: str | None = None
    kind: str | None = Field(None, description="USER, SYSTEM or empty.")
    message: str | None = None


class TaskActionStatus(_Model):
    """What happened, reported for the control plane."""

    state_json: str | None = Field(None, alias="stateJson")
    plugin_state: Base64 | None = Field(None, alias="pluginState")
    plugin_state_version: Annotated[int, Field(ge=0, le=255)] | None = Field(None, alias="pluginStateVersion")
    plugin_phase: str | None = Field(None, alias="pluginPhase")
    plugin_phase_version: Int32 | None = Field(None, alias="pluginPhaseVersion")
    attempts: Int32 | None = Field(None, description="1-based attempt number.")
    system_failures: Int32 | None = Field(None, alias="systemFailures", description="Consecutive system failures.")
    cache_status: Annotated[int, WithJsonSchema({"type": "integer", "format": "int32"})] | None = Field(
        None, alias="cacheStatus"
    )
    conditions: list[Condition] | None = Field(
        None, json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}
    )
    phase_history: list[PhaseTransition] | None = Field(None, alias="phaseHistory")
    error_state: ErrorState | None = Field(None, alias="errorState")
    signal_value: Base64 | None = Field(None, alias="signalValue", description="Serialized flyteidl2.core.Literal.")
    signalled_by: str | None = Field(None, alias="signalledBy")
    signalled_at: Timestamp | None = Field(None, alias="signalledAt")


class TaskAction(_Model):
    """The whole custom resource, as the operator reads it."""

    api_version: str | None = Field(None, alias="apiVersion")
    kind: str | None = None
    metadata: dict = Field(default_factory=dict)
    spec: TaskActionSpec
    status: TaskActionStatus = Field(default_factory=TaskActionStatus)
