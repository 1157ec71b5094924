"""Plain Python values <-> flyteidl2 `core.Literal`s: the primitives a client writes as inputs and signals, and the
values it reads back from outputs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flyteidl2.core import literals_pb2, types_pb2

from .errors import ClientError

# The simple types a condition may declare (and a signal carry), by the Primitive field that holds their value.
SIGNALLABLE_FIELDS = {
    types_pb2.BOOLEAN: "boolean",
    types_pb2.INTEGER: "integer",
    types_pb2.FLOAT: "float_value",
    types_pb2.STRING: "string_value",
}


def to_literal(value: Any) -> literals_pb2.Literal:
    """A primitive literal from a Python bool, int, float or str (an existing Literal is returned as is)."""
    if isinstance(value, literals_pb2.Literal):
        return value
    if isinstance(value, bool):
        primitive = literals_pb2.Primitive(boolean=value)
    elif isinstance(value, int):
        primitive = literals_pb2.Primitive(integer=value)
    elif isinstance(value, float):
        primitive = literals_pb2.Primitive(float_value=value)
    elif isinstance(value, str):
        primitive = literals_pb2.Primitive(string_value=value)
    else:
        raise ClientError(f"only bool, int, float and str values are supported, not {type(value).__name__}")
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=primitive))


def from_literal(literal: literals_pb2.Literal) -> Any:
    """The Python value of a primitive literal (also none, collections and maps of them); other literals as is."""
    which = literal.WhichOneof("value")
    if which == "scalar":
        scalar = literal.scalar
        kind = scalar.WhichOneof("value")
        if kind == "primitive":
            p = scalar.primitive
            field_name = p.WhichOneof("value")
            if field_name == "datetime":
                return p.datetime.ToDatetime(dt.timezone.utc)
            if field_name == "duration":
                return p.duration.ToTimedelta()
            return getattr(p, field_name) if field_name else None
        if kind == "none_type":
            return None
        return literal
    if which == "collection":
        return [from_literal(item) for item in literal.collection.literals]
    if which == "map":
        return {key: from_literal(item) for key, item in literal.map.literals.items()}
    return literal


def primitive_kind(literal: literals_pb2.Literal) -> str | None:
    if literal.WhichOneof("value") != "scalar" or literal.scalar.WhichOneof("value") != "primitive":
        return None
    return literal.scalar.primitive.WhichOneof("value")
