"""objecthash of a JSON document (benlaurie/objecthash `CommonJSONHash`, go/objecthash at d1e3d6079fc1, the version
flytestdlib/pbhash uses): sha256 over a type tag and the value, dict entries sorted by the hash of their key.

The document is what Go's json.Unmarshal gives: every number a float64, so ints hash as floats here too. That version
does not NFC-normalize strings.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

MAX_NORMALIZED_CHARS = 1000


def _hash(tag: bytes, data: bytes) -> bytes:
    return hashlib.sha256(tag + data).digest()


def normalize_float(value: float) -> str:
    """floatNormalize: sign, binary exponent, then the mantissa's bits."""
    if value == 0:
        return "+0:"
    sign = "-" if value < 0 else "+"
    f = abs(value)
    exponent = 0
    while f > 1:
        f /= 2
        exponent += 1
    while f <= 0.5:
        f *= 2
        exponent -= 1
    text = f"{sign}{exponent}:"
    while f != 0:
        if f >= 1:
            text += "1"
            f -= 1
        else:
            text += "0"
        if f >= 1 or len(text) >= MAX_NORMALIZED_CHARS:
            raise ValueError(f"could not normalize float {value!r}")
        f *= 2
    return text


def _float(value: float) -> bytes:
    if math.isinf(value):
        return _hash(b"f", b"Infinity" if value > 0 else b"-Infinity")
    if math.isnan(value):
        return _hash(b"f", b"NaN")
    return _hash(b"f", normalize_float(value).encode())


def object_hash(value: Any) -> bytes:
    """The 32-byte hash of a JSON value (dict, list, str, number, bool, None)."""
    if value is None:
        return _hash(b"n", b"")
    if isinstance(value, bool):
        return _hash(b"b", b"1" if value else b"0")
    if isinstance(value, int | float):
        return _float(float(value))
    if isinstance(value, str):
        return _hash(b"u", value.encode())
    if isinstance(value, list):
        return _hash(b"l", b"".join(object_hash(item) for item in value))
    if isinstance(value, dict):
        entries = sorted((object_hash(key), object_hash(item)) for key, item in value.items())
        return _hash(b"d", b"".join(k + v for k, v in entries))
    raise TypeError(f"not a JSON value: {type(value).__name__}")
