"""An action's inputs and outputs in storage: `inputs.pb` written from plain Python values, `outputs.pb` read back
as them, and where the current attempt's outputs are (flyteorg/flyte BuildOutputUri)."""

from __future__ import annotations

from typing import Any

from flyteidl2.task import common_pb2

from ..settings import Settings
from ..storage import paths
from ..storage.objects import read_object, write_object
from .errors import NotFound
from .literals import from_literal, to_literal


def output_uri(taskaction: dict[str, Any]) -> str:
    """BuildOutputUri: the directory of outputs.pb / error.pb of the current attempt."""
    meta, spec = taskaction["metadata"], taskaction["spec"]
    attempts = int((taskaction.get("status") or {}).get("attempts") or 0)
    return paths.action_output_prefix(meta["namespace"], meta["name"], spec["runOutputBase"], spec["actionName"], max(attempts, 1))


def _file(uri: str, name: str) -> str:
    uri = uri.rstrip("/")
    return uri if uri.endswith("/" + name) else f"{uri}/{name}"


def inputs_message(**values: Any) -> common_pb2.Inputs:
    return common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name=k, value=to_literal(v)) for k, v in values.items()])


async def write_inputs(uri: str, *, settings: Settings | None = None, **values: Any) -> str:
    """Write `inputs.pb` (flyteidl2.task.Inputs) at `uri` (a prefix or the file); returns the file's URI."""
    path = paths.inputs_file(uri)  # where the pod reads it
    data = inputs_message(**values).SerializeToString()
    await write_object(path, data, settings or Settings())
    return path


def outputs_to_dict(data: bytes) -> dict[str, Any]:
    """outputs.pb (flyteidl2.task.Outputs; 0 bytes for a task without outputs) as Python values."""
    outputs = common_pb2.Outputs.FromString(data)
    return {named.name: from_literal(named.value) for named in outputs.literals}


async def read_outputs(uri: str, *, settings: Settings | None = None) -> dict[str, Any]:
    """The outputs of an action from its output prefix (`output_uri(ta)`) or the outputs.pb file itself."""
    path = _file(uri, "outputs.pb")
    try:
        data = await read_object(path, settings or Settings())
    except FileNotFoundError as exc:
        raise NotFound(f"no outputs at {path}") from exc
    return outputs_to_dict(data)
