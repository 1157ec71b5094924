"""The task's timeout (TaskTemplate.metadata.timeout) as the deadline of each attempt: the pod's
activeDeadlineSeconds, so the kubelet ends it even while no operator runs, and the instant after which the operator
ends it itself (kwok, or a kubelet that is late) with the named code TaskTimedOut. Upstream does not enforce it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from flyteidl2.core import tasks_pb2

from ..api.times import parse_time


def timeout_seconds(template: tasks_pb2.TaskTemplate) -> float | None:
    """The task's timeout, or None when it declares none (or zero)."""
    if not template.metadata.HasField("timeout"):
        return None
    seconds = template.metadata.timeout.seconds + template.metadata.timeout.nanos / 1e9
    return seconds if seconds > 0 else None


def active_deadline_seconds(template: tasks_pb2.TaskTemplate) -> int | None:
    seconds = timeout_seconds(template)
    return max(1, math.ceil(seconds)) if seconds is not None else None


def attempt_deadline(template: tasks_pb2.TaskTemplate, pod: dict[str, Any]) -> datetime | None:
    """When the attempt running in `pod` times out: from the pod's start (status.startTime, as the kubelet counts
    activeDeadlineSeconds), or its creation while it has not started."""
    seconds = timeout_seconds(template)
    if seconds is None:
        return None
    started = parse_time((pod.get("status") or {}).get("startTime")) or parse_time(pod["metadata"].get("creationTimestamp"))
    return started + timedelta(seconds=seconds) if started is not None else None
