"""The order a bundle is read in, and obstore's errors told apart (the storage tier meets them from a real server)."""

from __future__ import annotations

import pytest
from obstore.exceptions import GenericError, PermissionDeniedError, UnauthenticatedError

from taskaction_operator.bundles.errors import BUNDLE_ACCESS_DENIED, BUNDLE_DOWNLOAD_FAILED, BUNDLE_NOT_FOUND
from taskaction_operator.bundles.fetch import FIRST_RANGE, classify, read_ranges

MIB = 1024 * 1024


def test_ranges_double_from_the_first_mib_up_to_the_chunk_size_and_cover_the_object() -> None:
    ranges = read_ranges(40 * MIB + 5, 8 * MIB)
    assert [end - start for start, end in ranges[:5]] == [MIB, 2 * MIB, 4 * MIB, 8 * MIB, 8 * MIB]
    assert ranges[0][0] == 0 and ranges[-1][1] == 40 * MIB + 5
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    assert read_ranges(0, 8 * MIB) == []
    assert read_ranges(10, 8 * MIB) == [(0, 10)]
    assert {end - start for start, end in read_ranges(MIB, FIRST_RANGE // 4)} == {FIRST_RANGE // 4}


def _generic(tail: str) -> GenericError:
    return GenericError(f"Generic S3 error: Error performing GET http://127.0.0.1:9/b/k in 1ms - {tail}")


@pytest.mark.parametrize(
    ("exc", "error", "transient"),
    [
        (_generic("HTTP error: error sending request"), BUNDLE_DOWNLOAD_FAILED, True),
        (_generic("Server returned non-2xx status code: 503 Service Unavailable: <Code>SlowDown</Code>"), BUNDLE_DOWNLOAD_FAILED, True),
        (_generic("Server returned non-2xx status code: 429 Too Many Requests"), BUNDLE_DOWNLOAD_FAILED, True),
        (_generic("Server returned non-2xx status code: 400 Bad Request"), BUNDLE_DOWNLOAD_FAILED, False),
        (PermissionDeniedError("403 Forbidden"), BUNDLE_ACCESS_DENIED, False),
        (UnauthenticatedError("401"), BUNDLE_ACCESS_DENIED, False),
        (FileNotFoundError("Object at location k not found"), BUNDLE_NOT_FOUND, False),
    ],
    ids=["no answer", "503", "429", "400", "403", "401", "404"],
)
def test_obstore_errors(exc: Exception, error: object, transient: bool) -> None:
    verdict = classify(exc, "s3://b/k")
    assert (verdict.error, verdict.transient) == (error, transient), verdict.message
