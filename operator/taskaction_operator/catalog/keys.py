"""The cache key of a task execution, as flyteplugins' cache_service client builds it (catalog/cache_service/client.go
buildCacheKey, catalog/hashing.go), so that entries are shared with the Go executor:

    <hash of the task id but its version>-<inputs interface hash, 8>-<outputs interface hash, 8>-<inputs hash>-<version>

Every hash is flytestdlib pbhash: the objecthash of the message's protobuf JSON (golang/protobuf jsonpb with its
defaults: camelCase names, default values left out, enums by name, 64-bit ints as strings), which is what
json_format.MessageToDict gives. The id hash is base64 (standard, padded), the others base64url without padding.
The inputs are hashified first: a literal with a `hash` stands for its value, and collections and maps are rebuilt of
their hashified items; inputs named in cache_ignore_input_vars are left out.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

from flyteidl2.core import identifier_pb2, interface_pb2, literals_pb2, tasks_pb2
from google.protobuf import json_format
from google.protobuf.message import Message

from .objecthash import object_hash

INTERFACE_HASH_CHARS = 8


def pb_hash(message: Message) -> bytes:
    return object_hash(json_format.MessageToDict(message))


def _url64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def identifier_hash(task_id: identifier_pb2.Identifier) -> str:
    """HashIdentifierExceptVersion: a new version of a task still hits the entries of the old one."""
    unversioned = identifier_pb2.Identifier(
        resource_type=task_id.resource_type, project=task_id.project, domain=task_id.domain, name=task_id.name, org=task_id.org
    )
    return base64.b64encode(pb_hash(unversioned)).decode()


def interface_hash(typed: interface_pb2.TypedInterface) -> str:
    """generateInterfaceSignatureHash: the inputs' and the outputs' variables (an empty map when none)."""
    inputs = typed.inputs if typed.inputs.variables else interface_pb2.VariableMap()
    outputs = typed.outputs if typed.outputs.variables else interface_pb2.VariableMap()
    return f"{_url64(pb_hash(inputs))[:INTERFACE_HASH_CHARS]}-{_url64(pb_hash(outputs))[:INTERFACE_HASH_CHARS]}"


def hashify(literal: literals_pb2.Literal) -> literals_pb2.Literal:
    if literal.hash:
        return literals_pb2.Literal(hash=literal.hash)
    if literal.HasField("collection"):
        return literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=[hashify(item) for item in literal.collection.literals]))
    if literal.HasField("map"):
        return literals_pb2.Literal(map=literals_pb2.LiteralMap(literals={k: hashify(v) for k, v in literal.map.literals.items()}))
    return literal


def inputs_hash(inputs: Mapping[str, literals_pb2.Literal], ignored: tuple[str, ...] | list[str] = ()) -> str:
    """HashLiteralMap."""
    kept = literals_pb2.LiteralMap(literals={name: hashify(value) for name, value in inputs.items() if name not in ignored})
    return _url64(pb_hash(kept))


def needs_inputs(template: tasks_pb2.TaskTemplate) -> bool:
    """The key hashes the inputs read from inputs.pb whenever the interface has an inputs map, even an empty one."""
    return template.interface.HasField("inputs")


def cache_key(template: tasks_pb2.TaskTemplate, inputs: Mapping[str, literals_pb2.Literal], version: str) -> str:
    """`inputs` are those of inputs.pb (ignored when the interface has no inputs map); `version` is spec.cacheKey."""
    used = inputs if needs_inputs(template) else {}
    return "-".join(
        (
            identifier_hash(template.id),
            interface_hash(template.interface),
            inputs_hash(used, list(template.metadata.cache_ignore_input_vars)),
            version,
        )
    )
