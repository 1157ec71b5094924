"""decode_task_template: every refusal names `taskTemplate` (it becomes an InvalidSpec message)."""

from __future__ import annotations

import base64

import pytest
from flyteidl2.core import tasks_pb2

from taskaction_operator.api.decoding import SpecError, decode_task_template, encode_task_template

from ..builders import k8s_pod_template, task_template


def test_round_trip_of_a_real_template() -> None:
    template = task_template(args=["a0", "--inputs", "{{.input}}"], retries=3)
    decoded = decode_task_template(encode_task_template(template))
    assert decoded == template
    assert decoded.container.image == "python:3.11"
    assert decoded.metadata.retries.retries == 3


def test_k8s_pod_target_is_accepted() -> None:
    template = k8s_pod_template({"containers": [{"name": "primary", "image": "busybox"}]})
    assert decode_task_template(encode_task_template(template)).HasField("k8s_pod")


@pytest.mark.parametrize(
    "encoded",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("not base64 at all!", id="not-base64"),
        pytest.param(base64.b64encode(b"\xff\xff\xff\xff").decode(), id="not-a-protobuf"),
        pytest.param(base64.b64encode(b"\x0a\x05ab").decode(), id="truncated-protobuf"),
    ],
)
def test_undecodable_input_names_the_field(encoded: str | None) -> None:
    with pytest.raises(SpecError, match="taskTemplate"):
        decode_task_template(encoded)


def test_template_without_container_or_k8s_pod_is_refused() -> None:
    template = tasks_pb2.TaskTemplate(type="python")
    template.id.name = "t"
    with pytest.raises(SpecError, match="taskTemplate.*neither a container nor a k8s_pod"):
        decode_task_template(encode_task_template(template))


def test_sql_target_is_refused() -> None:
    template = tasks_pb2.TaskTemplate(type="sql")
    template.sql.statement = "select 1"
    with pytest.raises(SpecError, match="taskTemplate"):
        decode_task_template(encode_task_template(template))


def test_container_without_image_is_refused() -> None:
    template = task_template(image="")
    with pytest.raises(SpecError, match="taskTemplate.container.image"):
        decode_task_template(encode_task_template(template))


def test_spec_error_is_a_value_error() -> None:
    assert issubclass(SpecError, ValueError)


def test_line_wrapped_base64_is_read_as_go_reads_it() -> None:
    """Go's encoding/base64 skips \\r and \\n; the API server keeps a `format: byte` field as sent."""
    template = task_template(args=["echo", "wrapped"])
    flat = encode_task_template(template)
    wrapped = "\r\n".join(flat[i : i + 76] for i in range(0, len(flat), 76)) + "\n"
    assert decode_task_template(wrapped) == template


def test_other_characters_outside_the_alphabet_are_refused() -> None:
    flat = encode_task_template(task_template())
    with pytest.raises(SpecError, match="taskTemplate is not valid base64"):
        decode_task_template(flat[:10] + " " + flat[10:])
