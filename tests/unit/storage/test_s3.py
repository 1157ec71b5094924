"""storage.s3 without a server: one store per bucket and options, obstore's errors in the operator's terms."""

from __future__ import annotations

import pytest

from taskaction_operator.storage import s3
from taskaction_operator.storage.filesystems import S3Options

LOCAL = S3Options("http://127.0.0.1:1", "us-east-1", "key-id", "secret-value-0123")

# What obstore 0.12 says (abridged) for a listing of a bucket that does not exist, and for a GET with a wrong secret.
NO_SUCH_BUCKET = (
    "Generic S3 error: Error performing list request: Error performing GET http://127.0.0.1:1/no-such?list-type=2 in "
    '1ms - Server returned non-2xx status code: 404 Not Found: <?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>\n\nDebug source:\n"
)
BAD_SIGNATURE = (
    "The operation lacked the necessary privileges to complete for path p/error.pb: Error performing GET "
    "http://127.0.0.1:1/b/p/error.pb in 1ms - Server returned non-2xx status code: 403 Forbidden: <?xml "
    'version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we '
    "calculated does not match</Message></Error>\n\nDebug source:\nPermissionDenied {\n"
)
REFUSED = (
    "Generic S3 error: Error performing list request: Error performing GET http://127.0.0.1:1/b?list-type=2 in 2ms, "
    "after 2 retries, max_retries: 2, retry_timeout: 20s  - HTTP error: error sending request\n\nDebug source:\n"
)


def test_one_store_per_bucket_options_and_policy() -> None:
    store = s3.store_for("bucket-a", LOCAL)
    assert s3.store_for("bucket-a", S3Options("http://127.0.0.1:1", "us-east-1", "key-id", "secret-value-0123")) is store
    assert s3.store_for("bucket-b", LOCAL) is not store
    assert s3.store_for("bucket-a", S3Options("http://127.0.0.1:2")) is not store
    assert s3.store_for("bucket-a", LOCAL, s3.RequestPolicy(max_retries=0)) is not store


def test_bucket_and_key() -> None:
    assert s3.bucket_and_key("s3://b/a/b/c") == ("b", "a/b/c")
    assert s3.bucket_and_key("s3a://b") == ("b", "")
    with pytest.raises(ValueError):
        s3.bucket_and_key("s3:///key")


def test_a_missing_bucket_is_not_a_missing_object() -> None:
    from obstore.exceptions import GenericError

    mapped = s3.failure(GenericError(NO_SUCH_BUCKET), "s3://no-such/p")
    assert isinstance(mapped, s3.NoBucket) and str(mapped) == "the bucket 'no-such' does not exist"
    # A GET of an object in a missing bucket is a FileNotFoundError to obstore: still a missing bucket here.
    mapped = s3.failure(FileNotFoundError(NO_SUCH_BUCKET.replace("Generic S3 error", "Object not found")), "s3://no-such/p")
    assert isinstance(mapped, s3.NoBucket) and not isinstance(mapped, FileNotFoundError)
    missing = s3.failure(FileNotFoundError("Object at location p not found: ... <Code>NoSuchKey</Code> ..."), "s3://b/p")
    assert type(missing) is FileNotFoundError and str(missing) == "s3://b/p: not found"


def test_refusals_are_one_line_of_what_the_store_answered() -> None:
    from obstore.exceptions import GenericError, PermissionDeniedError

    denied = s3.failure(PermissionDeniedError(BAD_SIGNATURE), "s3://b/p/error.pb")
    assert isinstance(denied, s3.S3Error) and isinstance(denied, OSError)
    assert str(denied) == (
        "PermissionDeniedError: 403 Forbidden: SignatureDoesNotMatch: The request signature we calculated does not match"
    )
    refused = s3.failure(GenericError(REFUSED), "s3://b/p")
    assert str(refused) == "GenericError: HTTP error: error sending request"


def test_other_exceptions_pass_as_they_are() -> None:
    error = KeyError("x")
    assert s3.failure(error, "s3://b/p") is error
