"""map_leaves: every scalar of a JSON-shaped value mapped, the containers rebuilt, the original untouched; json_copy: a
deep copy."""

from __future__ import annotations

from taskaction_operator.api.json_values import json_copy, map_leaves


def test_every_scalar_is_mapped_and_the_original_kept() -> None:
    value = {"a": [1, {"b": "x"}, None], "c": 2.5}
    assert map_leaves(value, lambda leaf: leaf * 2 if isinstance(leaf, (int, float, str)) else leaf) == {"a": [2, {"b": "xx"}, None], "c": 5.0}
    assert value == {"a": [1, {"b": "x"}, None], "c": 2.5}


def test_a_json_copy_is_equal_and_shares_nothing() -> None:
    value = {"conditions": [{"type": "Succeeded", "status": "True"}], "attempts": 1, "ratio": 0.5, "none": None, "yes": True}
    copied = json_copy(value)
    assert copied == value
    copied["conditions"][0]["status"] = "False"
    copied["conditions"].append({})
    assert value == {"conditions": [{"type": "Succeeded", "status": "True"}], "attempts": 1, "ratio": 0.5, "none": None, "yes": True}
