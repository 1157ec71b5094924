"""The failure contract the operator maps to errorState (docs/bundles.md)."""

from __future__ import annotations

from taskaction_operator.bundles import errors
from taskaction_operator.bundles.errors import BY_CODE, BY_EXIT_CODE, BundleError, parse_termination_message, termination_message


def test_the_contract() -> None:
    table = {(e.code, e.exit_code, e.kind, e.retryable) for e in BY_CODE.values()}
    assert {
        ("BundleNotFound", 10, "USER", False),
        ("BundleChecksumMismatch", 11, "USER", False),
        ("BundleUnsafe", 12, "USER", False),
        ("BundleAccessDenied", 13, "SYSTEM", False),
        ("BundleCommandNotFound", 14, "USER", False),
        ("BundleDownloadFailed", 20, "SYSTEM", True),
    } <= table
    assert len({e.exit_code for e in BY_CODE.values()}) == len(BY_CODE)
    assert all(e.exit_code not in (0, 1) and e.exit_code < 126 for e in BY_CODE.values())
    assert BY_EXIT_CODE[12] is errors.BUNDLE_UNSAFE
    error = BY_CODE["BundleUnsafe"]
    assert isinstance(error, BundleError)
    try:
        error.code = "x"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("BundleError must be frozen")


def test_parse_termination_message() -> None:
    line = termination_message(errors.BUNDLE_CHECKSUM_MISMATCH, "the bundle's sha256 is a,\n expected b")
    assert line == "BundleChecksumMismatch: the bundle's sha256 is a, expected b"
    assert parse_termination_message(line) == (errors.BUNDLE_CHECKSUM_MISMATCH, "the bundle's sha256 is a, expected b")
    assert parse_termination_message(line + "\nlog line after it\n") == (errors.BUNDLE_CHECKSUM_MISMATCH, "the bundle's sha256 is a, expected b")
    assert parse_termination_message("\n  BundleNotFound: s3://b/k does not exist\n") == (errors.BUNDLE_NOT_FOUND, "s3://b/k does not exist")
    assert parse_termination_message("OOMKilled") is None
    assert parse_termination_message("SomethingElse: x") is None
    assert parse_termination_message("Traceback (most recent call last):") is None
    assert parse_termination_message("") is None and parse_termination_message(None) is None


def test_messages_are_bounded() -> None:
    line = termination_message(errors.BUNDLE_UNSAFE, "x" * 10_000)
    assert len(line.encode()) <= errors.MAX_MESSAGE_BYTES and "\n" not in line
