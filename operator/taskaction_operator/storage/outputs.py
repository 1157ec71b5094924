"""What a succeeded pod left under its output prefix: error.pb first, then outputs.pb.

The Flyte SDK's entrypoint exits 0 after a user exception and reports it in `<prefix>/error.pb`
(flyteidl2.core.ErrorDocument), so a succeeded pod is only a succeeded task once error.pb is known to be absent.
A task without outputs still writes a 0-byte outputs.pb.

Mapping of error.pb, as flyteplugins' errorDoc2ExecutionError (ioutils/remote_file_output_reader.go):
- code, message from ContainerError; kind from ContainerError.origin (UNKNOWN -> "", USER, SYSTEM);
- recoverable = ContainerError.kind == RECOVERABLE;
- a document without an error: ErrorFileBadFormat, SYSTEM, recoverable.
A file that is not an ErrorDocument at all is a read failure (upstream returns an error from ReadProtobuf).

Not found is never a failure. Anything else (refused connection, 403, bad credentials, an undecodable error.pb, a
timeout) comes back as `storage_error`: one line, no credentials, for the caller to retry or report.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from flyteidl2.core import execution_pb2
from google.protobuf.message import DecodeError

from ..api.constants import KIND_SYSTEM, KIND_USER
from ..api.phase import ExecError
from .filesystems import StorageSettings, secrets_of
from .objects import list_directory, read_object

ERROR_FILE = "error.pb"
OUTPUTS_FILE = "outputs.pb"
TIMEOUT_SECONDS = 30.0
CODE_ERROR_FILE_BAD_FORMAT = "ErrorFileBadFormat"
MAX_REASON_CHARS = 400

_ORIGIN_KIND = {
    execution_pb2.ExecutionError.UNKNOWN: "",
    execution_pb2.ExecutionError.USER: KIND_USER,
    execution_pb2.ExecutionError.SYSTEM: KIND_SYSTEM,
}


@dataclass(frozen=True)
class OutputCheck:
    error: ExecError | None = None
    recoverable: bool = False
    outputs_found: bool = False
    storage_error: str | None = None
    # Which write of error.pb this is (its ETag and modification time), to know it again after a restart.
    error_version: str | None = None


def output_file(prefix: str, name: str) -> str:
    return f"{prefix.rstrip('/')}/{name}"


def error_from_document(data: bytes, path: str) -> tuple[ExecError, bool]:
    """error.pb bytes -> (error, recoverable). Raises DecodeError for bytes that are not an ErrorDocument."""
    document = execution_pb2.ErrorDocument.FromString(data)
    if not document.HasField("error"):
        message = f"error not formatted correctly, nil error @path [{path}]"
        return ExecError(CODE_ERROR_FILE_BAD_FORMAT, KIND_SYSTEM, message), True
    error = document.error
    kind = _ORIGIN_KIND.get(error.origin, "")
    return (
        ExecError(code=error.code, kind=kind, message=error.message),
        error.kind == execution_pb2.ContainerError.RECOVERABLE,
    )


class _Undecodable(Exception):
    pass


def one_line(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    lines = text.strip().splitlines()
    return (lines[0] if lines else "")[:MAX_REASON_CHARS]


def _reason(action: str, exc: BaseException, secrets: tuple[str, ...]) -> str:
    text = str(exc).strip()
    reason = f"{action}: {type(exc).__name__}" + (f": {text}" if text else "")
    return one_line(reason, secrets)


async def _check(prefix: str, settings: StorageSettings) -> OutputCheck:
    """One listing of the prefix tells whether error.pb and outputs.pb are there (a GET of error.pb, mostly a 404, and
    a HEAD of outputs.pb cost the operator 2.5 times the CPU); error.pb is read only when listed."""
    listed = await list_directory(prefix, settings)
    outputs = listed.get(OUTPUTS_FILE)
    outputs_found = outputs is not None and outputs.is_file
    error_file = listed.get(ERROR_FILE)
    if error_file is None:
        return OutputCheck(outputs_found=outputs_found)
    error_path = output_file(prefix, ERROR_FILE)
    data = await read_object(error_path, settings)
    try:
        error, recoverable = error_from_document(data, error_path)
    except DecodeError as exc:
        raise _Undecodable(f"{error_path} is not an ErrorDocument ({len(data)} bytes): {exc}") from exc
    return OutputCheck(error=error, recoverable=recoverable, outputs_found=outputs_found, error_version=error_file.version)


async def check_outputs(output_prefix: str, settings: StorageSettings, *, timeout: float = TIMEOUT_SECONDS) -> OutputCheck:
    """Never raises for storage trouble: it is in `storage_error`. Bounded by `timeout` seconds in all."""
    secrets = secrets_of(settings)
    try:
        async with asyncio.timeout(timeout):
            return await _check(output_prefix, settings)
    except _Undecodable as exc:
        return OutputCheck(storage_error=one_line(str(exc), secrets))
    except TimeoutError:
        return OutputCheck(storage_error=f"reading {output_prefix}: no answer from storage within {timeout:g}s")
    except Exception as exc:
        return OutputCheck(storage_error=_reason(f"reading {output_prefix}", exc, secrets))
