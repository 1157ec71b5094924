"""Render the template variables of a container's command and args, as flyteplugins core/template does.

Matching is case-insensitive and allows `{{.name}}`, `{{ .Name }}` and `{{$name}}`. Variables the executor
does not know (`{{.runName}}`, `{{.actionName}}`, `{{.runStartTime}}`) are left verbatim: the SDK reads them
from the environment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from flyteidl2.core import literals_pb2

from ..storage import paths


@dataclass(frozen=True)
class TemplateValues:
    input_prefix: str
    output_prefix: str
    raw_output_prefix: str
    prev_checkpoint_prefix: str
    checkpoint_output_prefix: str
    per_retry_unique_key: str
    namespace: str
    task_template_path: str = "inline://taskTemplate"


def _var(name: str) -> re.Pattern[str]:
    return re.compile(r"(?i){{\s*[\.$]" + name + r"\s*}}")


_INPUT = _var("Input")
_OUTPUT_PREFIX = _var("OutputPrefix")
_INPUT_PREFIX = _var("InputPrefix")
_RAW_OUTPUT = _var("RawOutputDataPrefix")
_PREV_CHECKPOINT = _var("PrevCheckpointPrefix")
_CHECKPOINT = _var("CheckpointOutputPrefix")
_UNIQUE_KEY = _var("PerRetryUniqueKey")
_TASK_TEMPLATE_PATH = _var("TaskTemplatePath")
_NAMESPACE = _var("Namespace")
_INPUT_VAR = re.compile(r"(?i){{\s*[\.$]Inputs\.(?P<name>[^}\s]+)\s*}}")


def input_names(values: list[str]) -> set[str]:
    """The `{{.Inputs.x}}` names the command and args use: their values come from inputs.pb."""
    return {m.group("name") for value in values for m in _INPUT_VAR.finditer(value)}


def render_literal(literal: literals_pb2.Literal) -> str:
    """A literal as core/template's serializeLiteral writes it into a command line."""
    if literal.HasField("collection"):
        return "[" + ",".join(render_literal(item) for item in literal.collection.literals) + "]"
    if not literal.HasField("scalar"):
        raise ValueError("only scalars and collections of them can be rendered into a command")
    scalar = literal.scalar
    if scalar.HasField("primitive"):
        primitive = scalar.primitive
        kind = primitive.WhichOneof("value")
        if kind == "integer":
            return str(primitive.integer)
        if kind == "float_value":
            # Go strconv.FormatFloat(f, 'f', -1, 64): the shortest exact digits, never an exponent.
            text = repr(primitive.float_value)
            if "e" in text:
                text = f"{primitive.float_value:.17f}".rstrip("0").rstrip(".")
            return text.removesuffix(".0")
        if kind == "string_value":
            return primitive.string_value
        if kind == "boolean":
            return "true" if primitive.boolean else "false"
        if kind == "datetime":
            return primitive.datetime.ToJsonString()
        if kind == "duration":
            return primitive.duration.ToJsonString()
        raise ValueError("empty primitive")
    if scalar.HasField("blob"):
        return scalar.blob.uri
    if scalar.HasField("schema"):
        return scalar.schema.uri
    raise ValueError(f"received unexpected scalar type {scalar.WhichOneof('value')}")


def per_retry_unique_key(generated_name: str) -> str:
    key = generated_name
    if key and not key[0].isalpha():
        key = "a" + key[1:]
    return re.sub(r"[^a-zA-Z0-9_]+", "_", key)


def render(value: str, values: TemplateValues, inputs: Mapping[str, str] | None = None) -> str:
    # Same order as upstream: a value substituted early is never re-scanned by a later pattern's meaning.
    replacements = [
        (_INPUT, f"{values.input_prefix}/{paths.INPUTS_FILE}"),
        (_OUTPUT_PREFIX, values.output_prefix),
        (_INPUT_PREFIX, values.input_prefix),
        (_RAW_OUTPUT, values.raw_output_prefix),
        (_PREV_CHECKPOINT, values.prev_checkpoint_prefix),
        (_CHECKPOINT, values.checkpoint_output_prefix),
        (_UNIQUE_KEY, values.per_retry_unique_key),
        (_TASK_TEMPLATE_PATH, values.task_template_path),
        (_NAMESPACE, values.namespace),
    ]
    for pattern, replacement in replacements:
        value = pattern.sub(lambda _m, r=replacement: r, value)
    if inputs:
        value = _INPUT_VAR.sub(lambda m: inputs.get(m.group("name"), m.group(0)), value)
    return value
