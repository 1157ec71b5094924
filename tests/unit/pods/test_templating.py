"""Template variables in command/args (docs/upstream-contract.md, "Template variables")."""

from __future__ import annotations

import pytest
from flyteidl2.core import literals_pb2

from taskaction_operator.api.models import TaskAction
from taskaction_operator.pods import templating
from taskaction_operator.pods.builder import pod_context
from taskaction_operator.pods.templating import TemplateValues, input_names, per_retry_unique_key, render, render_literal

from ..builders import ROOT_OUTPUT_1, spec, taskaction

VALUES = TemplateValues(
    input_prefix="s3://b/in",
    output_prefix="s3://b/oc/out/a0/1",
    raw_output_prefix="s3://b/oc/out/a0/1-raw",
    prev_checkpoint_prefix="s3://b/oc/out/a0/0/_flytecheckpoints",
    checkpoint_output_prefix="s3://b/oc/out/a0/1/_flytecheckpoints",
    per_retry_unique_key="rabc123_a0_0",
    namespace="flyte",
)


@pytest.mark.parametrize(
    ("placeholder", "expected"),
    [
        ("{{.input}}", "s3://b/in/inputs.pb"),
        ("{{.inputPrefix}}", "s3://b/in"),
        ("{{.outputPrefix}}", "s3://b/oc/out/a0/1"),
        ("{{.rawOutputDataPrefix}}", "s3://b/oc/out/a0/1-raw"),
        ("{{.prevCheckpointPrefix}}", "s3://b/oc/out/a0/0/_flytecheckpoints"),
        ("{{.checkpointOutputPrefix}}", "s3://b/oc/out/a0/1/_flytecheckpoints"),
        ("{{.perRetryUniqueKey}}", "rabc123_a0_0"),
        ("{{.taskTemplatePath}}", "inline://taskTemplate"),
        ("{{.namespace}}", "flyte"),
    ],
)
def test_every_variable(placeholder: str, expected: str) -> None:
    assert render(placeholder, VALUES) == expected
    assert render(f"--x={placeholder}/suffix", VALUES) == f"--x={expected}/suffix"


@pytest.mark.parametrize(
    "spelling",
    ["{{.OutputPrefix}}", "{{.outputprefix}}", "{{.OUTPUTPREFIX}}", "{{ .OutputPrefix }}", "{{$outputPrefix}}", "{{  $OutputPrefix}}"],
)
def test_case_insensitive_and_spacing_and_dollar_forms(spelling: str) -> None:
    assert render(spelling, VALUES) == "s3://b/oc/out/a0/1"


@pytest.mark.parametrize(
    "verbatim",
    ["{{.runName}}", "{{.actionName}}", "{{.runStartTime}}", "{{ .runName }}", "{{.unknownThing}}", "{{outputPrefix}}"],
)
def test_unknown_variables_are_left_verbatim(verbatim: str) -> None:
    assert render(verbatim, VALUES) == verbatim


def test_inputs_variables() -> None:
    assert render("{{.Inputs.x}} {{ .inputs.y }}", VALUES, {"x": "1", "y": "s3://y"}) == "1 s3://y"
    assert render("{{.Inputs.z}}", VALUES, {"x": "1"}) == "{{.Inputs.z}}"
    assert render("{{.Inputs.x}}", VALUES) == "{{.Inputs.x}}"


def test_input_and_input_prefix_do_not_shadow_each_other() -> None:
    assert render("{{.input}}|{{.inputPrefix}}", VALUES) == "s3://b/in/inputs.pb|s3://b/in"


def test_sdk_args_line() -> None:
    args = [
        "a0", "--inputs", "{{.input}}", "--outputs-path", "{{.outputPrefix}}", "--version", "v1",
        "--raw-data-path", "{{.rawOutputDataPrefix}}", "--checkpoint-path", "{{.checkpointOutputPrefix}}",
        "--prev-checkpoint", "{{.prevCheckpointPrefix}}", "--run-name", "{{.runName}}", "--name", "{{.actionName}}",
    ]  # fmt: skip
    rendered = [render(a, VALUES) for a in args]
    assert rendered[2] == "s3://b/in/inputs.pb"
    assert rendered[4] == VALUES.output_prefix
    assert rendered[-3:] == ["{{.runName}}", "--name", "{{.actionName}}"]


@pytest.mark.parametrize(
    ("generated", "expected"),
    [("rabc123-a0-0", "rabc123_a0_0"), ("0run-a0-1", "arun_a0_1"), ("r.x--y", "r_x_y"), ("", "")],
)
def test_per_retry_unique_key(generated: str, expected: str) -> None:
    assert per_retry_unique_key(generated) == expected


def _ctx(attempt: int):
    return pod_context(TaskAction.model_validate(taskaction(spec_=spec())), attempt)


def test_prev_checkpoint_is_literal_empty_quotes_on_attempt_one() -> None:
    ctx = _ctx(1)
    assert ctx.prev_checkpoint == '""'
    values = TemplateValues(
        input_prefix=ctx.input_prefix,
        output_prefix=ctx.output_prefix,
        raw_output_prefix=ctx.output_prefix,
        prev_checkpoint_prefix=ctx.prev_checkpoint,
        checkpoint_output_prefix=ctx.output_prefix + "/_flytecheckpoints",
        per_retry_unique_key=templating.per_retry_unique_key(ctx.pod_name),
        namespace=ctx.namespace,
    )
    assert render("--prev-checkpoint={{.prevCheckpointPrefix}}", values) == '--prev-checkpoint=""'


def test_prev_checkpoint_is_the_previous_attempts_checkpoint() -> None:
    ctx = _ctx(2)
    assert ctx.output_prefix == ROOT_OUTPUT_1[:-1] + "2"
    assert ctx.prev_checkpoint == ROOT_OUTPUT_1 + "/_flytecheckpoints"
    assert ctx.pod_name == "rabc123-a0-1"
    assert ctx.input_prefix == "s3://flyte-data/flytesnacks/development/rabc123/a0"


class TestInputs:
    """{{.Inputs.x}} takes the literal from inputs.pb, written as core/template's serializeLiteral writes it."""

    @staticmethod
    def primitive(**value: object) -> literals_pb2.Literal:
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**value)))

    def test_names_used_by_the_command(self) -> None:
        assert input_names(["--x", "{{.Inputs.x}}", "{{ .inputs.y }}-{{$Inputs.z}}", "{{.input}}"]) == {"x", "y", "z"}

    @pytest.mark.parametrize(
        ("literal", "text"),
        [
            ({"integer": 42}, "42"),
            ({"integer": -7}, "-7"),
            ({"float_value": 1.5}, "1.5"),
            ({"float_value": 2.0}, "2"),
            ({"float_value": 1e20}, "100000000000000000000"),
            ({"string_value": "hello world"}, "hello world"),
            ({"boolean": True}, "true"),
            ({"boolean": False}, "false"),
        ],
    )
    def test_primitives(self, literal: dict, text: str) -> None:
        assert render_literal(self.primitive(**literal)) == text

    def test_blob_is_its_uri_and_a_collection_is_bracketed(self) -> None:
        blob = literals_pb2.Literal(scalar=literals_pb2.Scalar(blob=literals_pb2.Blob(uri="s3://b/k")))
        collection = literals_pb2.Literal(
            collection=literals_pb2.LiteralCollection(literals=[self.primitive(integer=1), self.primitive(integer=2)])
        )
        assert render_literal(blob) == "s3://b/k"
        assert render_literal(collection) == "[1,2]"

    def test_a_map_cannot_be_rendered(self) -> None:
        with pytest.raises(ValueError):
            render_literal(literals_pb2.Literal(map=literals_pb2.LiteralMap()))

    def test_render_substitutes_inputs_case_insensitively(self) -> None:
        assert render("--n={{ .Inputs.n }}", VALUES, {"n": "5"}) == "--n=5"
