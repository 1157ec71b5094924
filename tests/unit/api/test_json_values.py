"""map_leaves: every scalar of a JSON-shaped value mapped, the containers rebuilt, the original untouched."""

from __future__ import annotations

from taskaction_operator.api.json_values import map_leaves


def test_every_scalar_is_mapped_and_the_original_kept() -> None:
    value = {"a": [1, {"b": "x"}, None], "c": 2.5}
    assert map_leaves(value, lambda leaf: leaf * 2 if isinstance(leaf, (int, float, str)) else leaf) == {"a": [2, {"b": "xx"}, None], "c": 5.0}
    assert value == {"a": [1, {"b": "x"}, None], "c": 2.5}
