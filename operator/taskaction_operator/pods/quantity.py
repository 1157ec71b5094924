"""Kubernetes resource quantities, parsed as apimachinery's resource.ParseQuantity does, so that the operator refuses
what the API server would refuse and, like flytek8s' ToK8sResourceList, drops what it would read as zero.

The grammar is ParseQuantity's, not the documented one: a bare suffix ("T"), a bare sign or "." are zero, not errors;
a suffix is one of the SI or binary ones or an exponent (`e3`, `E-2`), and nothing may follow it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"(?P<sign>[+-]?)(?P<number>\d*(?:\.\d*)?)(?P<suffix>[eEinumkKMGTP]*[+-]?\d*)")
_DECIMAL_SI = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SI = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_EXPONENT = re.compile(r"[eE][+-]?\d+")


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity; ValueError when the API server would refuse it."""
    match = _QUANTITY.fullmatch(text)
    if not text or not match:
        raise ValueError(f"{text!r} is not a quantity (quantities must match the regular expression "
                         r"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$')")
    digits = match["number"]
    number = Decimal(digits) if digits.strip(".") else Decimal(0)
    suffix = match["suffix"]
    if suffix in _DECIMAL_SI:
        value = number.scaleb(_DECIMAL_SI[suffix])
    elif suffix in _BINARY_SI:
        value = number * 2 ** _BINARY_SI[suffix]
    elif _EXPONENT.fullmatch(suffix):
        try:
            value = number.scaleb(int(suffix[1:]))
        except (InvalidOperation, OverflowError) as exc:
            raise ValueError(f"{text!r}: exponent out of range") from exc
    else:
        raise ValueError(f"{text!r} is not a quantity: unknown suffix {suffix!r}")
    return -value if match["sign"] == "-" else value
