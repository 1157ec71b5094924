"""The failure contract of `taskaction-bootstrap`: one exit code and one termination-message code per failure.

The process writes `<Code>: <message>` (one line, no credentials) to the termination-message file
(/dev/termination-log, or $TASKACTION_TERMINATION_LOG) and to stderr, then exits with the code's exit status.
The operator reads the pod's terminated state and maps it back with `parse_termination_message` (or `BY_EXIT_CODE`
when the message is missing) to a TaskAction `errorState{code, kind}` and a retry decision.

This module is imported by the operator: keep it free of heavy imports.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

from ..api.constants import KIND_SYSTEM, KIND_USER

TERMINATION_LOG_ENV = "TASKACTION_TERMINATION_LOG"
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
# Kubernetes keeps at most 4096 bytes of a termination message (and 12 KiB for all containers of a pod).
MAX_MESSAGE_BYTES = 1024


@dataclass(frozen=True)
class BundleError:
    code: str
    exit_code: int
    kind: str  # KIND_USER / KIND_SYSTEM, as TaskAction errorState.kind
    retryable: bool


# The contract (docs/bundles.md). Exit codes are distinct and never 0, 1 (a Python traceback) or >= 126 (the shell's
# "cannot execute" / "not found" and signals).
BUNDLE_NOT_FOUND = BundleError("BundleNotFound", 10, KIND_USER, False)
BUNDLE_CHECKSUM_MISMATCH = BundleError("BundleChecksumMismatch", 11, KIND_USER, False)
# Escaping paths, links out of the destination, devices/fifos, too large, too many members, not a tar archive.
BUNDLE_UNSAFE = BundleError("BundleUnsafe", 12, KIND_USER, False)
# 403, refused or missing credentials: a platform misconfiguration.
BUNDLE_ACCESS_DENIED = BundleError("BundleAccessDenied", 13, KIND_SYSTEM, False)
# The command after `--` does not exist (or cannot be executed).
BUNDLE_COMMAND_NOT_FOUND = BundleError("BundleCommandNotFound", 14, KIND_USER, False)
# Transient storage errors (refused/reset connections, timeouts, 5xx, throttling) still failing after the retries,
# and storage errors we cannot classify (failed at once, left to the operator's system-failure budget).
BUNDLE_DOWNLOAD_FAILED = BundleError("BundleDownloadFailed", 20, KIND_SYSTEM, True)
# Beyond the six above: the two ways the bootstrap itself can fail.
# Bad arguments or an unusable destination: whoever built the pod spec (the operator, a deployment) is wrong.
BUNDLE_INVALID_ARGUMENTS = BundleError("BundleInvalidArguments", 2, KIND_SYSTEM, False)
# Local trouble while writing the tree (disk full, read-only volume, permissions): another node may do better.
BUNDLE_BOOTSTRAP_FAILED = BundleError("BundleBootstrapFailed", 21, KIND_SYSTEM, True)

ALL: tuple[BundleError, ...] = (
    BUNDLE_NOT_FOUND,
    BUNDLE_CHECKSUM_MISMATCH,
    BUNDLE_UNSAFE,
    BUNDLE_ACCESS_DENIED,
    BUNDLE_COMMAND_NOT_FOUND,
    BUNDLE_DOWNLOAD_FAILED,
    BUNDLE_INVALID_ARGUMENTS,
    BUNDLE_BOOTSTRAP_FAILED,
)
BY_CODE: dict[str, BundleError] = {error.code: error for error in ALL}
BY_EXIT_CODE: dict[int, BundleError] = {error.exit_code: error for error in ALL}
assert len(BY_CODE) == len(BY_EXIT_CODE) == len(ALL), "codes and exit codes must be distinct"

_MESSAGE = re.compile(r"^(?P<code>[A-Za-z][A-Za-z0-9]*): ?(?P<message>.*)$")


class BundleFailure(Exception):
    """Raised anywhere in the bootstrap; `__main__` turns it into the exit code and the termination message."""

    def __init__(self, error: BundleError, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message

    def __str__(self) -> str:
        return termination_message(self.error, self.message)


def termination_message(error: BundleError, message: str) -> str:
    """`<Code>: <message>` on one line, bounded in size."""
    flat = " ".join(message.split())
    line = f"{error.code}: {flat}"
    encoded = line.encode("utf-8", errors="replace")
    if len(encoded) > MAX_MESSAGE_BYTES:
        line = encoded[: MAX_MESSAGE_BYTES - 3].decode("utf-8", errors="ignore") + "..."
    return line


def parse_termination_message(text: str | None) -> tuple[BundleError, str] | None:
    """A container's termination message -> (error, message), or None when it is not one of ours.

    Only the first non-empty line counts (FallbackToLogsOnError may append log lines after it)."""
    if not text:
        return None
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        match = _MESSAGE.match(line)
        if not match:
            return None
        error = BY_CODE.get(match.group("code"))
        return (error, match.group("message").strip()) if error else None
    return None


def termination_log_path() -> str:
    return os.environ.get(TERMINATION_LOG_ENV) or DEFAULT_TERMINATION_LOG


def report(failure: BundleFailure) -> int:
    """Write the termination message (best effort) and to stderr; return the exit code."""
    line = termination_message(failure.error, failure.message)
    try:
        with open(termination_log_path(), "w", encoding="utf-8") as log:
            log.write(line + "\n")
    except OSError:
        pass  # not in a pod, or not writable: stderr still has it
    print(line, file=sys.stderr, flush=True)
    return failure.error.exit_code
