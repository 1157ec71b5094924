"""The phase vocabulary of a task: flyteplugins' pluginmachinery/core phase.go (Phase, PhaseInfo, ExecutionError and
its constructors). Below both the pod-status mapping (pods/phase.py) and storage's error.pb reader, as upstream keeps
it below its plugin helpers."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .constants import KIND_SYSTEM, KIND_USER


class Phase(str, enum.Enum):
    """flyteplugins pluginmachinery/core Phase, with its Go String() values."""

    UNDEFINED = "PhaseUndefined"
    NOT_READY = "PhaseNotReady"
    WAITING_FOR_RESOURCES = "PhaseWaitingForResources"
    QUEUED = "PhaseQueued"
    INITIALIZING = "PhaseInitializing"
    RUNNING = "PhaseRunning"
    SUCCESS = "PhaseSuccess"
    RETRYABLE_FAILURE = "PhaseRetryableFailure"
    PERMANENT_FAILURE = "PhasePermanentFailure"
    WAITING_FOR_CACHE = "PhaseWaitingForCache"
    ABORTED = "PhaseAborted"


@dataclass(frozen=True)
class ExecError:
    code: str
    kind: str  # USER, SYSTEM or ""
    message: str

    def describe(self) -> str:
        return f"[{self.code}] {self.message}"


@dataclass(frozen=True)
class PhaseInfo:
    phase: Phase
    reason: str = ""
    error: ExecError | None = None
    recheck_after: float | None = None  # seconds until time alone may change the verdict (a grace running out)

    @property
    def is_system_retryable(self) -> bool:
        return self.phase is Phase.RETRYABLE_FAILURE and self.error is not None and self.error.kind == KIND_SYSTEM


def queued(reason: str) -> PhaseInfo:
    return PhaseInfo(Phase.QUEUED, reason)


def initializing(reason: str) -> PhaseInfo:
    return PhaseInfo(Phase.INITIALIZING, reason)


def retryable(code: str, message: str, kind: str = KIND_USER) -> PhaseInfo:
    return PhaseInfo(Phase.RETRYABLE_FAILURE, message, ExecError(code, kind, message))


def permanent(code: str, message: str, kind: str = KIND_USER) -> PhaseInfo:
    return PhaseInfo(Phase.PERMANENT_FAILURE, message, ExecError(code, kind, message))


def go_duration(seconds: float) -> str:
    """Go's time.Duration String() for whole seconds: 3m0s, 1h0m0s, 45s."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
