"""The cache key, byte for byte as flyteplugins' cache_service client builds it: the expected keys were printed by
upstream's own code (flytestdlib/pbhash, catalog/hashing.go and generateInterfaceSignatureHash of flyteorg/flyte
v2.0.43, compiled with Go) for these very templates and inputs.pb files."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flyteidl2.core import identifier_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flyteidl2.task import common_pb2
from google.protobuf import struct_pb2

from taskaction_operator.catalog.keys import cache_key, hashify

TASK_ID = identifier_pb2.Identifier(
    resource_type=identifier_pb2.TASK, project="flytesnacks", domain="development", name="pipeline.step_one", version="abc123"
)


def primitive(**value: object) -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**value)))


def template(
    inputs: list[tuple[str, int]], outputs: list[tuple[str, int]], *, ignore: tuple[str, ...] = (), with_inputs: bool = True,
    task_id: identifier_pb2.Identifier = TASK_ID,
) -> tasks_pb2.TaskTemplate:
    def variables(pairs: list[tuple[str, int]]) -> interface_pb2.VariableMap:
        entries = [interface_pb2.VariableEntry(key=k, value=interface_pb2.Variable(type=types_pb2.LiteralType(simple=t))) for k, t in pairs]
        return interface_pb2.VariableMap(variables=entries)

    typed = interface_pb2.TypedInterface(outputs=variables(outputs))
    if with_inputs:
        typed.inputs.CopyFrom(variables(inputs))
    metadata = tasks_pb2.TaskMetadata(discoverable=True, cache_ignore_input_vars=list(ignore))
    return tasks_pb2.TaskTemplate(id=task_id, type="python", interface=typed, metadata=metadata)


MIXED = {
    "i": primitive(integer=7),
    "zero": primitive(integer=0),
    "big": primitive(integer=-(2**62)),
    "f": primitive(float_value=-23.1234),
    "one": primitive(float_value=1.0),
    "s": primitive(string_value="héllo"),
    "b": primitive(boolean=True),
    "no": primitive(boolean=False),
    "dt": primitive(datetime=datetime(2026, 12, 1, 13, 0, 0, 123000, tzinfo=UTC)),
    "dur": primitive(duration={"seconds": 90, "nanos": 500000000}),
    "none": literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void())),
    "list": literals_pb2.Literal(
        collection=literals_pb2.LiteralCollection(
            literals=[primitive(integer=1), literals_pb2.Literal(hash="h1", scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=99)))]
        )
    ),
    "map": literals_pb2.Literal(
        map=literals_pb2.LiteralMap(literals={"a": primitive(string_value="x"), "b": primitive(float_value=0.0001)}), metadata={"k": "v"}
    ),
    "hashed": literals_pb2.Literal(hash="deadbeef", scalar=literals_pb2.Scalar(blob=literals_pb2.Blob(uri="s3://b/x"))),
    "blob": literals_pb2.Literal(
        scalar=literals_pb2.Scalar(
            blob=literals_pb2.Blob(
                uri="s3://bucket/data.parquet",
                metadata=literals_pb2.BlobMetadata(type=types_pb2.BlobType(format="parquet", dimensionality=types_pb2.BlobType.MULTIPART)),
            )
        )
    ),
    "bin": literals_pb2.Literal(scalar=literals_pb2.Scalar(binary=literals_pb2.Binary(value=b"\x00\x01msgpack\xff", tag="msgpack"))),
    "gen": literals_pb2.Literal(
        scalar=literals_pb2.Scalar(
            generic=struct_pb2.Struct(
                fields={
                    "n": struct_pb2.Value(number_value=3),
                    "l": struct_pb2.Value(list_value=struct_pb2.ListValue(values=[struct_pb2.Value(null_value=0), struct_pb2.Value(bool_value=True)])),
                }
            )
        )
    ),
    "skipped": primitive(integer=12345),
}
ORG_ID = identifier_pb2.Identifier(resource_type=identifier_pb2.TASK, project="p", domain="d", name="n", version="other", org="acme")
ID_HASH = "LJ7cRRXuXpxLJ96cmmz37rpKVf79HtnqpLDuXX14BJE="
EMPTY = "GKw-c0Pw"  # an empty variable map, truncated
EMPTY_INPUTS = "GKw-c0PwFokMUQ6T-TUmEWnZ4_VlQ2Qpgw-vCTT0-OQ"

CASES = {
    "simple": (
        template([("x", types_pb2.INTEGER)], [("o0", types_pb2.INTEGER)]),
        {"x": primitive(integer=3)},
        "v1",
        f"{ID_HASH}-EH_9L3Ox-J2qAfV9C--AVfAEAm0NEd4FA8EqwJBYAE8mrSI02h36cFEK8vp7U-v1",
    ),
    # No inputs map in the interface: inputs.pb is not read (what it holds is not hashed).
    "no inputs map": (
        template([], [("o0", types_pb2.STRING)], with_inputs=False),
        {"ignored": primitive(integer=1)},
        "",
        f"{ID_HASH}-{EMPTY}-1iqK0awh-{EMPTY_INPUTS}-",
    ),
    "empty inputs": (template([], []), {}, "cachev", f"{ID_HASH}-{EMPTY}-{EMPTY}-{EMPTY_INPUTS}-cachev"),
    "every kind of literal": (
        template([(k, types_pb2.NONE) for k in MIXED], [("o0", types_pb2.FLOAT), ("o1", types_pb2.STRING)], ignore=("skipped",)),
        MIXED,
        "1.0",
        f"{ID_HASH}-JFiVwQKQ-EsUElAOu-osed3ZHV6IzSRD5KJDU57cOiuyWU_r6UCg0UZ2aA3ZY-1.0",
    ),
    "org": (
        template([("x", types_pb2.INTEGER)], [], task_id=ORG_ID),
        {"x": primitive(integer=3)},
        "v1",
        f"Z55cG3g6JibY/a3H5qNfZG+/xKB9Iauf8VRMYa2wQAY=-EH_9L3Ox-{EMPTY}--AVfAEAm0NEd4FA8EqwJBYAE8mrSI02h36cFEK8vp7U-v1",
    ),
}


def as_read(inputs: dict[str, literals_pb2.Literal]) -> dict[str, literals_pb2.Literal]:
    """Through inputs.pb as the Flyte 2 SDK writes it (flyteidl2.task.Inputs) and storage.inputs reads it."""
    data = common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name=k, value=v) for k, v in inputs.items()]).SerializeToString()
    return {named.name: named.value for named in common_pb2.Inputs.FromString(data).literals}


@pytest.mark.parametrize("case", list(CASES))
def test_key_is_upstreams(case: str) -> None:
    task, inputs, version, expected = CASES[case]
    assert cache_key(task, as_read(inputs), version) == expected


def test_what_the_key_ignores_and_what_it_does_not() -> None:
    task, inputs, version, expected = CASES["every kind of literal"]
    assert cache_key(task, {**inputs, "skipped": primitive(integer=1)}, version) == expected  # cache_ignore_input_vars
    assert cache_key(task, {**inputs, "i": primitive(integer=8)}, version) != expected
    assert cache_key(task, inputs, "2.0") != expected
    newer = tasks_pb2.TaskTemplate()
    newer.CopyFrom(task)
    newer.id.version = "def456"
    assert cache_key(newer, inputs, version) == expected  # a new version of the task still hits


def test_a_hashed_literal_stands_for_its_value() -> None:
    hashed = literals_pb2.Literal(hash="h", scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=1)))
    assert hashify(hashed) == literals_pb2.Literal(hash="h")
    nested = literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=[hashed]), metadata={"k": "v"})
    assert hashify(nested) == literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=[literals_pb2.Literal(hash="h")]))
