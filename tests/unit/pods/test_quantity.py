"""Quantities parsed as the API server parses them (apimachinery resource.ParseQuantity)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from taskaction_operator.pods.quantity import parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1), ("250m", Decimal("0.25")), ("1.5Gi", Decimal("1.5") * 2**30), ("2k", 2000), ("1E", 10**18),
        ("1e3", 1000), ("5E-2", Decimal("0.05")), ("1e+2", 100), ("-1", -1), ("+2M", 2 * 10**6), (".5", Decimal("0.5")),
        ("5.", 5), ("007", 7), ("100n", Decimal("1e-7")), ("3u", Decimal("3e-6")), ("2Ei", 2 * 2**60),
        # ParseQuantity reads no number as zero: the API server takes these, and a zero is dropped as upstream does
        ("T", 0), ("Ki", 0), ("-", 0), (".", 0), ("m", 0),
    ],
)
def test_what_the_api_server_takes(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "lots", "12XB", "1.2.3", "0x10", "ten", "1e", "--1", "1 Gi", " 1", "1 ", "∞", "1Ki3", "1kk", "1KB", "+-1", "1e1.5"])
def test_what_the_api_server_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="quantit"):
        parse_quantity(text)
