"""objecthash against the vectors of benlaurie/objecthash's common_json.test (at d1e3d6079fc1, the version
flytestdlib/pbhash uses)."""

from __future__ import annotations

import json

import pytest

from taskaction_operator.catalog.objecthash import normalize_float, object_hash

VECTORS = [
    ("[]", "acac86c0e609ca906f632b0e2dacccb2b77d22b0621f20ebece1a4835b93f6f0"),
    ('["foo", "bar"]', "32ae896c413cfdc79eec68be9139c86ded8b279238467c216cf2bec4d5f1e4a2"),
    ("[123456789012345, 678901234567890]", "d4cca471f1c68f62fbc815b88effa7e52e79d110419a7c64c1ebb107b07f7f56"),
    ("{}", "18ac3e7343f016890c510e93f935261169d9e3f565436429830faf0934f4f8e4"),
    ('{"foo": ["bar", "baz"], "qux": ["norf"]}', "f1a9389f27558538a064f3cc250f8686a0cebb85f1cab7f4d4dcc416ceda3c92"),
    ("[null]", "5fb858ed3ef4275e64c2d5c44b77534181f7722b7765288e76924ce2f9f7f7db"),
    ("true", "7dc96f776c8423e57a2785489a3f9c43fb6e756876d6ad9a9cac4aa4e72ec193"),
    ("false", "c02c0b965e023abee808f2b548d8d5193a8b5229be6f3121a6f16e2d41a449b3"),
    ("0.0", "60101d8c9cb988411468e38909571f357daa67bff5a7b0a3f9ae295cd4aba33d"),
    ("-10.1234", "59b49ae24998519925833e3ff56727e5d4868aba4ecf4c53653638ebff53c366"),
    # Integers and floats are the same in common JSON.
    ('["foo", {"bar": ["baz", null, 1.0, 1.5, 0.0001, 1000.0, 2.0, -23.1234, 2.0]}]', "783a423b094307bcb28d005bc2f026ff44204442ef3513585e7e73b66e3c2213"),
    ('["foo", {"bar": ["baz", null, 1, 1.5, 0.0001, 1000, 2, -23.1234, 2]}]', "783a423b094307bcb28d005bc2f026ff44204442ef3513585e7e73b66e3c2213"),
    ('{"k2": "v2", "k1": "v1", "k3": "v3"}', "ddd65f1f7568269a30df7cafc26044537dc2f02a1a0d830da61762fc3e687057"),
    ('"\\u03d2\\u0301"', "42d5b13fb064849a988a86eb7650a22881c0a9ecf77057a1b07ab0dad385889c"),  # not NFC-normalized
]


@pytest.mark.parametrize(("document", "expected"), VECTORS)
def test_common_json_vectors(document: str, expected: str) -> None:
    assert object_hash(json.loads(document)).hex() == expected


def test_float_normal_form() -> None:
    # sign, binary exponent, ':', the mantissa's bits (the value is 0.b1b2... * 2**exponent, doubled once more)
    assert normalize_float(1.0) == "+0:1"
    assert normalize_float(3.0) == "+2:011"
    assert normalize_float(-0.5) == "--1:1"
    assert normalize_float(0.0) == "+0:"
    assert object_hash(float("inf")) != object_hash(float("-inf")) != object_hash(float("nan"))


def test_a_value_that_is_no_json_is_refused() -> None:
    with pytest.raises(TypeError):
        object_hash(b"bytes")
