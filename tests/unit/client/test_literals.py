"""Plain Python values <-> core.Literal: the four primitives both ways, none, collections and maps read back."""

from __future__ import annotations

import pytest
from flyteidl2.core import literals_pb2

from taskaction_operator.client import errors, literals


@pytest.mark.parametrize("value", [True, 7, 2.5, "ada"])
def test_primitives_round_trip(value: object) -> None:
    literal = literals.to_literal(value)
    assert literals.from_literal(literal) == value and type(literals.from_literal(literal)) is type(value)
    assert literals.to_literal(literal) is literal


def test_only_primitives_become_literals() -> None:
    with pytest.raises(errors.ClientError, match="not list"):
        literals.to_literal([1])


def test_none_collections_and_maps_are_read_as_python_values() -> None:
    none = literals_pb2.Literal(scalar=literals_pb2.Scalar(none_type=literals_pb2.Void()))
    collection = literals_pb2.Literal(collection=literals_pb2.LiteralCollection(literals=[literals.to_literal(1), none]))
    mapping = literals_pb2.Literal(map=literals_pb2.LiteralMap(literals={"k": collection}))
    assert literals.from_literal(mapping) == {"k": [1, None]}
