"""Pod names, label values and TaskAction names (docs/upstream-contract.md, "Names")."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskaction_operator.pods.naming import pod_name, retry_index, sanitize_label_value, taskaction_name

# Kubernetes label value: empty, or <=63 chars, alphanumeric at both ends, [-_.a-zA-Z0-9] between.
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(None, "rabc123-a0-0"), (0, "rabc123-a0-0"), (1, "rabc123-a0-0"), (2, "rabc123-a0-1"), (3, "rabc123-a0-2")],
)
def test_pod_name_is_name_dash_zero_based_retry(attempts: int | None, expected: str) -> None:
    assert pod_name("rabc123-a0", attempts) == expected


def test_retry_index() -> None:
    assert [retry_index(a) for a in (None, 0, 1, 2, 5)] == [0, 0, 0, 1, 4]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("run/name:with bad chars", "run-name-with-bad-chars"),  # upstream's example
        ("rabc123", "rabc123"),
        ("my_module.say_hello", "my_module.say_hello"),
        ("-leading", "xleading"),
        ("trailing.", "trailingx"),
        ("_", "x"),
        ("", ""),
        ("héllo", "h-llo"),
    ],
)
def test_sanitize_label_value_examples(raw: str, expected: str) -> None:
    assert sanitize_label_value(raw) == expected


def test_seventy_chars_are_cut_to_63() -> None:
    raw = "t" * 70
    assert sanitize_label_value(raw) == "t" * 63


def test_cut_then_fix_the_last_character() -> None:
    raw = "a" * 62 + "-bcdef"  # the 63rd character is '-' after the cut
    out = sanitize_label_value(raw)
    assert len(out) == 63
    assert out == "a" * 62 + "x"


@given(st.text(max_size=200))
def test_sanitized_value_is_always_a_valid_label_value(raw: str) -> None:
    out = sanitize_label_value(raw)
    assert len(out) <= 63
    assert LABEL_VALUE.fullmatch(out), out
    assert (out == "") == (raw == "")


@given(st.from_regex(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", fullmatch=True))
def test_valid_label_values_are_unchanged(raw: str) -> None:
    assert sanitize_label_value(raw) == raw


@pytest.mark.parametrize(
    ("run", "action", "expected"),
    [
        ("rabc123", "a0", "rabc123-a0"),  # the real run service names the root a0
        ("rabc123", "rabc123", "rabc123-a0"),  # root whose action name is the run name
        ("rabc123", "train", "rabc123-train"),
    ],
)
def test_taskaction_name(run: str, action: str, expected: str) -> None:
    assert taskaction_name(run, action) == expected
