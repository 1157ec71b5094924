"""check_outputs through s3:// against a real S3 server (SeaweedFS on 127.0.0.1, SigV4 credentials)."""

from __future__ import annotations

import time
import uuid

import pytest
from flyteidl2.core import execution_pb2

from taskaction_operator.storage.outputs import OutputCheck, check_outputs
from tests.support.seaweedfs import SECRET_KEY, SeaweedFS, closed_port


def error_document(code: str, message: str, kind: int, origin: int) -> bytes:
    return execution_pb2.ErrorDocument(
        error=execution_pb2.ContainerError(code=code, message=message, kind=kind, origin=origin)
    ).SerializeToString()


@pytest.fixture
def prefix(seaweedfs: SeaweedFS) -> str:
    """A fresh sharded-looking output prefix per test."""
    return seaweedfs.url(f"oc/proj/dev/r{uuid.uuid4().hex[:10]}/a0/1")


async def test_nothing_written(seaweedfs: SeaweedFS, prefix: str) -> None:
    assert await check_outputs(prefix, seaweedfs.settings()) == OutputCheck(outputs_found=False)


async def test_empty_outputs_file_counts_as_found(seaweedfs: SeaweedFS, prefix: str) -> None:
    seaweedfs.s3fs().pipe_file(f"{prefix}/outputs.pb", b"")
    assert await check_outputs(prefix, seaweedfs.settings()) == OutputCheck(outputs_found=True)


async def test_outputs_written_after_a_first_look_are_seen(seaweedfs: SeaweedFS, prefix: str) -> None:
    # The operator polls: no listing cache may keep an earlier "not found".
    settings = seaweedfs.settings()
    assert not (await check_outputs(prefix, settings)).outputs_found
    seaweedfs.s3fs().pipe_file(f"{prefix}/outputs.pb", b"\x0a\x00")
    assert (await check_outputs(prefix, settings)).outputs_found


async def test_recoverable_user_error(seaweedfs: SeaweedFS, prefix: str) -> None:
    fs = seaweedfs.s3fs()
    fs.pipe_file(
        f"{prefix}/error.pb",
        error_document("ValueError", "bad 7", execution_pb2.ContainerError.RECOVERABLE, execution_pb2.ExecutionError.USER),
    )
    fs.pipe_file(f"{prefix}/outputs.pb", b"")
    check = await check_outputs(prefix, seaweedfs.settings())
    # Both are seen; error.pb wins (reconcile.task.after_success) unless an earlier run of the attempt left it.
    assert check.storage_error is None and check.recoverable is True and check.outputs_found
    assert check.error is not None
    assert (check.error.code, check.error.kind, check.error.message) == ("ValueError", "USER", "bad 7")


async def test_the_error_file_version_is_its_etag_and_time(seaweedfs: SeaweedFS, prefix: str) -> None:
    fs = seaweedfs.s3fs()
    fs.pipe_file(f"{prefix}/error.pb", error_document("IOError", "first", execution_pb2.ContainerError.RECOVERABLE, execution_pb2.ExecutionError.SYSTEM))
    first = await check_outputs(prefix, seaweedfs.settings())
    assert first.error_version and first.error_version.startswith('"') and "|20" in first.error_version
    assert (await check_outputs(prefix, seaweedfs.settings())).error_version == first.error_version
    fs.pipe_file(f"{prefix}/error.pb", error_document("IOError", "second", execution_pb2.ContainerError.RECOVERABLE, execution_pb2.ExecutionError.SYSTEM))
    assert (await check_outputs(prefix, seaweedfs.settings())).error_version not in (None, first.error_version)


async def test_non_recoverable_system_error(seaweedfs: SeaweedFS, prefix: str) -> None:
    seaweedfs.s3fs().pipe_file(
        f"{prefix}/error.pb",
        error_document("Boom", "system broke", execution_pb2.ContainerError.NON_RECOVERABLE, execution_pb2.ExecutionError.SYSTEM),
    )
    check = await check_outputs(prefix, seaweedfs.settings())
    assert check.recoverable is False
    assert check.error is not None
    assert (check.error.code, check.error.kind, check.error.message) == ("Boom", "SYSTEM", "system broke")


async def test_garbage_error_file(seaweedfs: SeaweedFS, prefix: str) -> None:
    seaweedfs.s3fs().pipe_file(f"{prefix}/error.pb", b"not a protobuf at all")
    check = await check_outputs(prefix, seaweedfs.settings())
    assert check.error is None and not check.outputs_found
    assert check.storage_error is not None and "error.pb" in check.storage_error


async def test_wrong_credentials_are_a_storage_error(seaweedfs: SeaweedFS, prefix: str) -> None:
    seaweedfs.s3fs().pipe_file(f"{prefix}/outputs.pb", b"")
    wrong_secret = "wrong-secret-value-that-must-not-leak"
    for settings in (
        seaweedfs.settings(storage_secret_access_key=wrong_secret),
        seaweedfs.settings(storage_access_key_id="nobody-knows-me", storage_secret_access_key=wrong_secret),
    ):
        check = await check_outputs(prefix, settings)
        assert check.storage_error is not None, check
        assert check.error is None and not check.outputs_found  # neither "found" nor "not found"
        assert wrong_secret not in check.storage_error and SECRET_KEY not in check.storage_error
        assert "\n" not in check.storage_error


async def test_missing_bucket_is_a_storage_error(seaweedfs: SeaweedFS) -> None:
    check = await check_outputs("s3://no-such-bucket-here/oc/p/d/r/a0/1", seaweedfs.settings())
    assert check.storage_error is not None and "bucket" in check.storage_error


async def test_nothing_listening_is_a_quick_storage_error(seaweedfs: SeaweedFS, prefix: str) -> None:
    settings = seaweedfs.settings(storage_endpoint=f"http://127.0.0.1:{closed_port()}")
    started = time.monotonic()
    check = await check_outputs(prefix, settings)
    elapsed = time.monotonic() - started
    assert check.storage_error is not None and check.error is None and not check.outputs_found
    assert elapsed < 10, f"took {elapsed:.1f}s"


async def test_timeout_bounds_the_check(seaweedfs: SeaweedFS, prefix: str) -> None:
    # A server that accepts and never answers: the check gives up at its deadline.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        settings = seaweedfs.settings(storage_endpoint=f"http://127.0.0.1:{silent.getsockname()[1]}")
        started = time.monotonic()
        check = await check_outputs(prefix, settings, timeout=1.5)
        elapsed = time.monotonic() - started
    assert check.storage_error is not None and "1.5s" in check.storage_error
    assert elapsed < 5
