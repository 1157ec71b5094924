"""Pod status -> plugin phase, a port of flyteplugins' DemystifyPodStatus (pod/plugin.go, flytek8s/pod_helper.go).

One deliberate difference, documented in docs/flyte-compatibility.md: a pod that failed because its container
exited non-zero (not killed) is a USER failure that consumes the task's retries, where upstream calls it a SYSTEM
`Interrupted` failure when the pod carries no reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..api.constants import CODE_TASK_TIMED_OUT, KIND_SYSTEM, KIND_USER
from ..api.phase import Phase, PhaseInfo, go_duration, initializing, permanent, queued, retryable
from ..api.times import parse_time
from ..bundles.errors import parse_termination_message
from ..settings import Settings

PRIMARY_CONTAINER_ANNOTATION = "primary_container_name"
# A pending pod that reports no condition yet: nothing more is known than that it waits.
SCHEDULING = "Scheduling"
SIGKILL_EXIT_CODES = (137, 247)
SYSTEM_POD_REASONS = ("Shutdown", "Terminated", "NodeShutdown", "NodeAffinity")


def finished_at(pod: dict[str, Any]) -> datetime | None:
    """When the pod's last container ended, or None while none has."""
    ends = [parse_time((_terminated(cs) or {}).get("finishedAt")) for cs in _all_statuses(pod.get("status") or {})]
    return max((end for end in ends if end is not None), default=None)


def _terminated(container_status: dict[str, Any]) -> dict[str, Any] | None:
    return (container_status.get("lastState") or {}).get("terminated") or (container_status.get("state") or {}).get("terminated")


def _exit_message(name: str, terminated: dict[str, Any]) -> str:
    return (
        f"\r\n[{name}] terminated with exit code ({terminated.get('exitCode', 0)}). "
        f"Reason [{terminated.get('reason', '')}]. Message: \n{terminated.get('message', '')}."
    )


def _all_statuses(status: dict[str, Any]) -> list[dict[str, Any]]:
    return (
        list(status.get("initContainerStatuses") or [])
        + list(status.get("containerStatuses") or [])
        + list(status.get("ephemeralContainerStatuses") or [])
    )


def demystify_success(status: dict[str, Any]) -> PhaseInfo:
    for cs in _all_statuses(status):
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if "OOMKilled" in (terminated.get("reason") or ""):
            return retryable("OOMKilled", "Pod reported success despite being OOMKilled")
    return PhaseInfo(Phase.SUCCESS)


def bundle_failure(status: dict[str, Any]) -> PhaseInfo | None:
    """A container that taskaction-bootstrap ended (the init container, or a runtime-image entrypoint) says why in
    its termination message; the failure is named after it (bundles/errors.py, docs/bundles.md)."""
    for cs in list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or []):
        terminated = _terminated(cs) or {}
        parsed = parse_termination_message(terminated.get("message"))
        if parsed is None or parsed[0].exit_code != terminated.get("exitCode"):
            continue
        error, message = parsed
        if error.retryable:
            return retryable(error.code, message, error.kind)
        return permanent(error.code, message, error.kind)
    return None


def demystify_failure(status: dict[str, Any], primary: str | None) -> PhaseInfo:
    bundle = bundle_failure(status)
    if bundle is not None:
        return bundle
    if status.get("reason") == "DeadlineExceeded":  # the kubelet ended it at activeDeadlineSeconds: the task's timeout
        return retryable(CODE_TASK_TIMED_OUT, f"the task's timeout expired: {status.get('message') or 'DeadlineExceeded'}")
    code = status.get("reason") or "UnknownError"
    message = status.get("message") or "Pod failed. No message received from kubernetes."
    is_system = code in SYSTEM_POD_REASONS
    user_exit: str | None = None
    for cs in list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or []):
        terminated = _terminated(cs)
        if not terminated:
            continue
        reason = terminated.get("reason") or ""
        exit_code = terminated.get("exitCode", 0)
        if "OOMKilled" in reason:
            code = "OOMKilled"
        elif exit_code in SIGKILL_EXIT_CODES:
            code = "Interrupted"
            if cs.get("name") == primary:
                is_system = True
        elif exit_code != 0 and user_exit is None:
            user_exit = reason or "Error"
        message += _exit_message(cs.get("name", ""), terminated)
    if code == "UnknownError":
        if user_exit is not None:
            # Deliberate fix: a plain non-zero exit is the task's own failure, not the platform's.
            code = user_exit
        else:
            is_system = True
    if is_system:
        return retryable("Interrupted", message, KIND_SYSTEM)
    return retryable(code, message)


def _classify_waiting(
    reason: str, message: str, waiting_reason: str, since: datetime | None, now: datetime, settings: Settings
) -> PhaseInfo:
    elapsed = (now - since).total_seconds() if since else 0.0
    described = f"[{reason}]: {message}"
    if waiting_reason in ("ErrImagePull", "ContainerCreating", "PodInitializing"):
        return initializing(described)
    if waiting_reason in ("CreateContainerError", "CreateContainerConfigError"):
        grace = (
            settings.create_container_error_grace_seconds
            if waiting_reason == "CreateContainerError"
            else settings.create_container_config_error_grace_seconds
        )
        if elapsed >= grace:
            return permanent(reason, f"Grace period [{go_duration(grace)}] exceeded|{message}")
        return PhaseInfo(Phase.INITIALIZING, described, recheck_after=grace - elapsed)
    if waiting_reason == "InvalidImageName":
        return permanent(reason, message)
    if waiting_reason == "ImagePullBackOff":
        if elapsed >= settings.image_pull_backoff_grace_seconds:
            kind = KIND_SYSTEM if "429 Too Many Requests" in message else KIND_USER
            return retryable(reason, f"Grace period [{go_duration(settings.image_pull_backoff_grace_seconds)}] exceeded|{message}", kind)
        return PhaseInfo(Phase.INITIALIZING, described, recheck_after=settings.image_pull_backoff_grace_seconds - elapsed)
    return retryable(reason, message, KIND_SYSTEM)


def demystify_pending(status: dict[str, Any], now: datetime, settings: Settings) -> PhaseInfo:
    for cond in status.get("conditions") or []:
        cond_type, cond_status = cond.get("type"), cond.get("status")
        since = parse_time(cond.get("lastTransitionTime"))
        cond_reason, cond_message = cond.get("reason") or "", cond.get("message") or ""
        if cond_type == "PodScheduled" and cond_status == "False":
            info = queued(f"{cond_reason}:{cond_message}")
        elif cond_type == "Ready" and cond_status == "False":
            waiting_statuses = [cs for cs in status.get("initContainerStatuses") or [] if (cs.get("state") or {}).get("waiting")]
            waiting_statuses += [
                cs for cs in status.get("containerStatuses") or [] if not cs.get("ready") and (cs.get("state") or {}).get("waiting")
            ]
            if not waiting_statuses:
                continue
            waiting = waiting_statuses[0]["state"]["waiting"]
            waiting_reason = waiting.get("reason") or ""
            info = _classify_waiting(
                f"{cond_reason}|{waiting_reason}",
                f"{cond_message}|{waiting.get('message') or ''}",
                waiting_reason,
                since,
                now,
                settings,
            )
            if info.phase not in (Phase.QUEUED, Phase.INITIALIZING):
                return info
        else:
            continue
        timeout = settings.pod_pending_timeout_seconds
        if timeout > 0 and since is not None:
            pending = (now - since).total_seconds()
            if pending >= timeout:
                return retryable("PodPendingTimeout", info.reason, KIND_SYSTEM)
            left = timeout - pending
            return PhaseInfo(info.phase, info.reason, recheck_after=min(left, info.recheck_after or left))
        return info
    return queued(SCHEDULING)


def determine_primary_phase(status: dict[str, Any], spec: dict[str, Any], primary: str) -> PhaseInfo:
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") != primary:
            continue
        state = cs.get("state") or {}
        terminated = state.get("terminated")
        if not terminated:
            return PhaseInfo(Phase.RUNNING)
        exit_code = terminated.get("exitCode", 0)
        reason = terminated.get("reason") or ""
        message = _exit_message(primary, terminated)
        if "OOMKilled" in reason:
            return retryable(reason, message)
        if exit_code in SIGKILL_EXIT_CODES:
            return retryable("Interrupted", message, KIND_SYSTEM)
        if exit_code != 0:
            return retryable(reason or "Error", message)
        return PhaseInfo(Phase.SUCCESS)
    if any(ct.get("name") == primary for ct in spec.get("containers") or []):
        return PhaseInfo(Phase.RUNNING)
    return permanent("PrimaryContainerNotFound", f"Primary container [{primary}] not found in pod's spec")


def demystify(pod: dict[str, Any], now: datetime, settings: Settings) -> PhaseInfo:
    status = pod.get("status") or {}
    primary = ((pod.get("metadata") or {}).get("annotations") or {}).get(PRIMARY_CONTAINER_ANNOTATION)
    phase = status.get("phase") or "Pending"
    if phase == "Succeeded":
        return demystify_success(status)
    if phase == "Failed":
        return demystify_failure(status, primary)
    if phase == "Pending":
        return demystify_pending(status, now, settings)
    if phase == "Unschedulable":
        return queued("pod unschedulable")
    if phase == "Unknown":
        return PhaseInfo(Phase.UNDEFINED)
    if primary:
        return determine_primary_phase(status, pod.get("spec") or {}, primary)
    # No primary container: the task is done when every container (init containers too: a restartPolicy Always one
    # is a sidecar) has ended, all with exit 0; until then it runs. A failure ends the pod, and that is seen above.
    containers = status.get("containerStatuses") or []
    if containers and not any(_unfinished(cs) for cs in list(containers) + list(status.get("initContainerStatuses") or [])):
        return demystify_success(status)
    return PhaseInfo(Phase.RUNNING)


def _unfinished(container_status: dict[str, Any]) -> bool:
    """Waiting, running, or ended with a non-zero exit code (a status without any state counts as ended, as upstream)."""
    state = container_status.get("state") or {}
    terminated = state.get("terminated")
    return state.get("waiting") is not None or state.get("running") is not None or (terminated is not None and terminated.get("exitCode", 0) != 0)
