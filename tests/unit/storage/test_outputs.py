"""check_outputs on file:// prefixes (the local filesystem in a worker thread), and the S3 options' precedence."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from flyteidl2.core import execution_pb2

from taskaction_operator.settings import Settings
from taskaction_operator.storage import filesystems, outputs
from taskaction_operator.storage.outputs import CODE_ERROR_FILE_BAD_FORMAT, OutputCheck, check_outputs


def error_document(code: str, message: str, kind: int, origin: int) -> bytes:
    return execution_pb2.ErrorDocument(
        error=execution_pb2.ContainerError(code=code, message=message, kind=kind, origin=origin)
    ).SerializeToString()


@pytest.fixture
def prefix(tmp_path: Path) -> tuple[Path, str]:
    directory = tmp_path / "oc" / "proj" / "dev" / "r1" / "a0" / "1"
    directory.mkdir(parents=True)
    return directory, directory.as_uri()


async def test_nothing_written_is_not_found_and_no_error(prefix: tuple[Path, str], settings: Settings) -> None:
    _, uri = prefix
    assert await check_outputs(uri, settings) == OutputCheck(outputs_found=False)


async def test_missing_prefix_directory_is_not_found(tmp_path: Path, settings: Settings) -> None:
    assert await check_outputs((tmp_path / "never" / "made").as_uri(), settings) == OutputCheck()


async def test_empty_outputs_file_counts_as_found(prefix: tuple[Path, str], settings: Settings) -> None:
    directory, uri = prefix
    (directory / "outputs.pb").write_bytes(b"")
    assert await check_outputs(uri, settings) == OutputCheck(outputs_found=True)


async def test_trailing_slash_and_bare_path(prefix: tuple[Path, str], settings: Settings) -> None:
    directory, uri = prefix
    (directory / "outputs.pb").write_bytes(b"\x0a\x00")
    assert (await check_outputs(uri + "/", settings)).outputs_found
    assert (await check_outputs(str(directory), settings)).outputs_found


async def test_recoverable_user_error(prefix: tuple[Path, str], settings: Settings) -> None:
    directory, uri = prefix
    (directory / "error.pb").write_bytes(
        error_document("ValueError", "bad 7", execution_pb2.ContainerError.RECOVERABLE, execution_pb2.ExecutionError.USER)
    )
    (directory / "outputs.pb").write_bytes(b"")  # error.pb wins (reconcile.task.after_success), unless it is stale
    check = await check_outputs(uri, settings)
    assert check.storage_error is None
    assert check.recoverable is True
    assert check.error is not None
    assert (check.error.code, check.error.kind, check.error.message) == ("ValueError", "USER", "bad 7")
    assert check.outputs_found is True


async def test_the_error_file_has_a_version_that_a_rewrite_changes(prefix: tuple[Path, str], settings: Settings) -> None:
    """An earlier run's error.pb stays under the attempt's prefix: its version tells it from the next run's."""
    directory, uri = prefix
    document = error_document("IOError", "flaky", execution_pb2.ContainerError.RECOVERABLE, execution_pb2.ExecutionError.SYSTEM)
    (directory / "error.pb").write_bytes(document)
    first = await check_outputs(uri, settings)
    assert first.error_version and (await check_outputs(uri, settings)).error_version == first.error_version
    os.utime(directory / "error.pb", (1.0, 2.0))  # rewritten with the same bytes, later (local files: by mtime)
    assert (await check_outputs(uri, settings)).error_version not in (None, first.error_version)


async def test_non_recoverable_system_error(prefix: tuple[Path, str], settings: Settings) -> None:
    directory, uri = prefix
    (directory / "error.pb").write_bytes(
        error_document(
            "OOM", "out of memory", execution_pb2.ContainerError.NON_RECOVERABLE, execution_pb2.ExecutionError.SYSTEM
        )
    )
    check = await check_outputs(uri, settings)
    assert check.recoverable is False
    assert check.error is not None
    assert (check.error.code, check.error.kind, check.error.message) == ("OOM", "SYSTEM", "out of memory")


async def test_unknown_origin_is_an_empty_kind(prefix: tuple[Path, str], settings: Settings) -> None:
    # What `a0` writes when the task cannot even be loaded: no origin.
    directory, uri = prefix
    (directory / "error.pb").write_bytes(
        error_document("AttributeError", "no attr", execution_pb2.ContainerError.RECOVERABLE, execution_pb2.ExecutionError.UNKNOWN)
    )
    check = await check_outputs(uri, settings)
    assert check.error is not None and check.error.kind == ""
    assert check.recoverable is True


async def test_error_document_without_error_is_bad_format(prefix: tuple[Path, str], settings: Settings) -> None:
    # As flyteplugins' errorDoc2ExecutionError: a nil error is a recoverable SYSTEM ErrorFileBadFormat.
    directory, uri = prefix
    (directory / "error.pb").write_bytes(b"")
    check = await check_outputs(uri, settings)
    assert check.storage_error is None
    assert check.error is not None
    assert (check.error.code, check.error.kind) == (CODE_ERROR_FILE_BAD_FORMAT, "SYSTEM")
    assert check.recoverable is True


async def test_garbage_error_file_is_a_storage_error(prefix: tuple[Path, str], settings: Settings) -> None:
    directory, uri = prefix
    (directory / "error.pb").write_bytes(b"not a protobuf at all")
    check = await check_outputs(uri, settings)
    assert check.error is None
    assert check.outputs_found is False
    assert check.storage_error is not None
    assert "error.pb" in check.storage_error and "\n" not in check.storage_error


async def test_unreadable_error_file_is_a_storage_error(prefix: tuple[Path, str], settings: Settings) -> None:
    directory, uri = prefix
    (directory / "error.pb").mkdir()  # a directory where a file should be: neither found nor absent
    check = await check_outputs(uri, settings)
    assert check.storage_error is not None and check.error is None


async def test_unknown_scheme_is_a_storage_error(settings: Settings) -> None:
    check = await check_outputs("nosuchscheme://bucket/x/a0/1", settings)
    assert check.storage_error is not None and "nosuchscheme" in check.storage_error


def test_s3_options_precedence() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "aws-key",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "AWS_REGION": "eu-west-1",
        "FLYTE_AWS_ENDPOINT": "http://127.0.0.1:1",
        "FLYTE_AWS_ACCESS_KEY_ID": "flyte-key",
        "FLYTE_AWS_SECRET_ACCESS_KEY": "flyte-secret",
    }
    explicit = Settings(
        storage_endpoint="http://127.0.0.1:2",
        storage_region="us-west-2",
        storage_access_key_id="set-key",
        storage_secret_access_key="set-secret",
    )
    assert filesystems.s3_options(explicit, env) == filesystems.S3Options(
        "http://127.0.0.1:2", "us-west-2", "set-key", "set-secret"
    )
    assert filesystems.s3_options(Settings(), env) == filesystems.S3Options(
        "http://127.0.0.1:1", "eu-west-1", "aws-key", "aws-secret"
    )
    flyte_only = {k: v for k, v in env.items() if not k.startswith("AWS_")}
    assert filesystems.s3_options(Settings(), flyte_only) == filesystems.S3Options(
        "http://127.0.0.1:1", None, "flyte-key", "flyte-secret"
    )
    assert filesystems.s3_options(Settings(), {}) == filesystems.S3Options()


def test_secrets_stay_out_of_reprs_and_descriptions() -> None:
    options = filesystems.S3Options("http://127.0.0.1:1", None, "the-key-id", "the-secret-value")
    assert "the-secret-value" not in repr(options)
    assert "the-secret-value" not in options.describe() and "the-key-id" not in options.describe()
    assert "the-secret-value" not in repr(Settings(storage_secret_access_key="the-secret-value"))


async def test_one_filesystem_per_scheme_and_loop_and_none_for_s3() -> None:
    local = filesystems.filesystem_for("file:///tmp/x")
    assert filesystems.filesystem_for("/tmp/y") is local
    await filesystems.close_filesystems()
    assert filesystems.filesystem_for("file:///tmp/x") is not local
    await filesystems.close_filesystems()
    for uri in ("s3://bucket/x", "s3a://bucket/x"):  # storage.s3's, through obstore
        with pytest.raises(ValueError):
            filesystems.filesystem_for(uri)


async def test_storage_errors_are_one_line_without_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cr3t-value-0123456789"

    async def failing(uri: str, settings: Settings) -> dict[str, Any]:
        raise ConnectionError(f"signature with {secret} refused\nsecond line")

    monkeypatch.setattr(outputs, "list_directory", failing)
    settings = Settings(storage_access_key_id="ab", storage_secret_access_key=secret)
    check = await check_outputs("s3://bucket/p/a0/1", settings)
    assert check.storage_error == "reading s3://bucket/p/a0/1: ConnectionError: signature with *** refused"


async def test_the_check_is_bounded_in_time(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    async def hanging(uri: str, settings: Settings) -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {}

    monkeypatch.setattr(outputs, "list_directory", hanging)
    check = await check_outputs("s3://bucket/p/a0/1", settings, timeout=0.2)
    assert check.storage_error is not None and "0.2s" in check.storage_error
