"""Decode the protobuf payloads a TaskAction carries as base64 (flyteidl2)."""

from __future__ import annotations

import base64
import binascii

from flyteidl2.core import tasks_pb2
from google.protobuf.message import DecodeError


class SpecError(ValueError):
    """The spec cannot be executed; the message names the field."""


def decode_base64(encoded: str) -> bytes:
    """Standard base64 as Go's encoding/base64 reads it: line breaks (\\r, \\n) are skipped, anything else outside the
    alphabet is an error. The API server stores a `format: byte` field as it was sent, wrapped or not."""
    return base64.b64decode(encoded.replace("\r", "").replace("\n", ""), validate=True)


def decode_task_template(encoded: str | None) -> tasks_pb2.TaskTemplate:
    if not encoded:
        raise SpecError("taskTemplate is empty")
    try:
        raw = decode_base64(encoded)
    except (binascii.Error, ValueError) as exc:
        raise SpecError(f"taskTemplate is not valid base64: {exc}") from exc
    template = tasks_pb2.TaskTemplate()
    try:
        template.ParseFromString(raw)
    except DecodeError as exc:
        raise SpecError(f"taskTemplate is not a serialized flyteidl2.core.TaskTemplate: {exc}") from exc
    if not template.HasField("container") and not template.HasField("k8s_pod"):
        raise SpecError("taskTemplate has neither a container nor a k8s_pod target")
    if template.HasField("container") and not template.container.image:
        raise SpecError("taskTemplate.container.image is empty")
    return template


def encode_task_template(template: tasks_pb2.TaskTemplate) -> str:
    return base64.b64encode(template.SerializeToString()).decode()
