"""The ActionEvents of a TaskAction, derived from what it stores: a pure function, so that what is still to be reported
can always be recomputed from the CR (level-triggered, nothing only in memory).

A port of the Go executor's buildActionEvent / phaseToActionPhase / toClusterEvents / toActionErrorInfo
(flyteorg/flyte executor/pkg/controller/taskaction_controller.go) and of its ABORTED event on delete
(handleAbortAndFinalize). Upstream builds one event per status write from the plugin's PhaseInfo; here there is one
per phaseHistory entry, which is what those writes leave behind:

- Queued, Initializing, Executing, Completed, PermanentFailure, Aborted -> QUEUED, INITIALIZING, RUNNING, SUCCEEDED,
  FAILED, ABORTED of the attempt the entry belongs to;
- a RetryableFailure `attempt N: ...` (TaskReconcile.restart: attempt N failed, N+1 begins) -> FAILED of attempt N with
  its error (KIND_USER). Upstream never reports a retried attempt's failure (its transition is overwritten with
  Queued "restarting task"); here it is reported, so that `flyte get action` shows why each attempt ended;
- a RetryableFailure without that prefix (TaskReconcile.system_failure: the attempt starts over) -> no event, as
  upstream returns before its status write; the next Queued of the same attempt is reported with version 1.

`version` counts the earlier events of the same (attempt, phase): the control plane keeps the first event of each
(attempt, phase, version) and drops the rest, so a second QUEUED of an attempt needs its own version. RUNNING starts
at 1, as upstream's pod plugin reports a running pod with log links (DemystifyPodStatus: DefaultPhaseVersion + 1).
cluster_events carry the entry's message for the phases where it is the plugin's reason (QUEUED, INITIALIZING,
RUNNING; ABORTED's "aborted"); a SUCCEEDED or FAILED event has none, its outcome is in error_info, as upstream.
Condition actions get no events, as upstream (the actions service reports their phase).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flyteidl2.common import identifier_pb2, phase_pb2
from flyteidl2.core import catalog_pb2, tasks_pb2
from flyteidl2.task import common_pb2
from flyteidl2.workflow import run_definition_pb2
from google.protobuf import timestamp_pb2

from ..api import constants as c
from ..api.decoding import SpecError, decode_task_template
from ..api.log_config import LogConfig
from ..api.times import parse_time
from ..pods.naming import pod_name, retry_index
from ..reconcile.status import is_terminal
from ..storage import paths
from . import log_links

ActionEvent = run_definition_pb2.ActionEvent
ErrorInfo = run_definition_pb2.ErrorInfo
PodOf = Callable[[int], "dict[str, Any] | None"]

_ENTRY_PHASES = {
    c.REASON_QUEUED: phase_pb2.ACTION_PHASE_QUEUED,
    c.REASON_INITIALIZING: phase_pb2.ACTION_PHASE_INITIALIZING,
    c.REASON_EXECUTING: phase_pb2.ACTION_PHASE_RUNNING,
    c.REASON_COMPLETED: phase_pb2.ACTION_PHASE_SUCCEEDED,
    c.REASON_PERMANENT_FAILURE: phase_pb2.ACTION_PHASE_FAILED,
    c.REASON_ABORTED: phase_pb2.ACTION_PHASE_ABORTED,
}
_KINDS = {c.KIND_USER: ErrorInfo.KIND_USER, c.KIND_SYSTEM: ErrorInfo.KIND_SYSTEM}
_RETRIED_ATTEMPT = re.compile(r"^attempt (\d+): (.*)$", re.DOTALL)
_DESCRIBED_ERROR = re.compile(r"^\[[^\]]*\] (.*)$", re.DOTALL)  # ExecError.describe(): "[code] message"
# Phases whose events carry the attempt's log links, once its pod has had containers (upstream: from pod statuses).
_LOGGED_PHASES = {phase_pb2.ACTION_PHASE_RUNNING, phase_pb2.ACTION_PHASE_SUCCEEDED, phase_pb2.ACTION_PHASE_FAILED}
_FIRST_VERSION = {phase_pb2.ACTION_PHASE_RUNNING: 1}
_OUTCOMES = {phase_pb2.ACTION_PHASE_SUCCEEDED, phase_pb2.ACTION_PHASE_FAILED}
ABORTED_MESSAGE = "aborted"


@dataclass(frozen=True)
class Step:
    """One event to report, before it is an ActionEvent."""

    attempt: int
    phase: int  # flyteidl2.common.ActionPhase
    version: int
    occurred_at: str
    message: str
    error: ErrorInfo | None = None
    had_containers: bool = False  # the attempt's pod had containers by then: its events carry log links
    from_history: bool = True  # False for the ABORTED of a deletion: upstream builds it without the pod's info


def current_attempt(status: dict[str, Any]) -> int:
    """observedAttempts: `status.attempts`, 1 while unset (through pods.naming, which the CLI imports cheaply)."""
    return retry_index(status.get("attempts")) + 1


def is_task(body: dict[str, Any]) -> bool:
    return (body.get("spec") or {}).get("actionType") != c.ACTION_TYPE_CONDITION


def retried_attempt_error(message: str) -> tuple[int, ErrorInfo] | None:
    """The attempt and error of a `attempt N: [code] message` entry; None for any other message."""
    retried = _RETRIED_ATTEMPT.match(message)
    if retried is None:
        return None
    error = retried.group(2)
    described = _DESCRIBED_ERROR.match(error)
    return int(retried.group(1)), ErrorInfo(message=described.group(1) if described else error, kind=ErrorInfo.KIND_USER)


def steps(body: dict[str, Any]) -> list[Step]:
    """Every event the TaskAction's stored state calls for, in order."""
    if not is_task(body):
        return []
    status = body.get("status") or {}
    out: list[Step] = []
    seen: Counter[tuple[int, int]] = Counter()
    attempt, had_containers = 1, False

    def add(phase: int, entry_time: str, message: str, error: ErrorInfo | None = None) -> None:
        version = _FIRST_VERSION.get(phase, 0) + seen[(attempt, phase)]
        seen[(attempt, phase)] += 1
        out.append(Step(attempt, phase, version, entry_time, message, error, had_containers))

    for entry in status.get("phaseHistory") or []:
        name, when, message = entry.get("phase"), entry.get("occurredAt") or "", entry.get("message") or ""
        if name == c.REASON_RETRYABLE_FAILURE:
            retried = retried_attempt_error(message)
            if retried is not None:
                attempt = retried[0]
                add(phase_pb2.ACTION_PHASE_FAILED, when, message, retried[1])
                attempt += 1
            # Either way a new pod follows, which has no containers yet (a system failure is not reported).
            had_containers = False
            continue
        if name not in _ENTRY_PHASES:
            continue
        had_containers = had_containers or name in (c.REASON_INITIALIZING, c.REASON_EXECUTING, c.REASON_COMPLETED)
        if name == c.REASON_COMPLETED and status.get("cacheStatus") == catalog_pb2.CACHE_HIT:
            had_containers = False  # a cache hit: no pod ran, there are no logs
        error = None
        if name == c.REASON_PERMANENT_FAILURE:
            state = status.get("errorState") or {}
            error = ErrorInfo(message=state.get("message") or message, kind=_KINDS.get(state.get("kind") or "", ErrorInfo.KIND_UNSPECIFIED))
            if state.get("code") == c.CODE_MAX_SYSTEM_FAILURES:
                had_containers = False  # upstream's finalizePermanentFailure reports it without the pod's info
        add(_ENTRY_PHASES[name], when, message, error)
    meta = body.get("metadata") or {}
    if meta.get("deletionTimestamp") and c.FINALIZER in (meta.get("finalizers") or []) and not is_terminal(status):
        # A terminal action deleted (by the GC, or with its run) was not aborted: unlike upstream, no ABORTED for it.
        attempt = current_attempt(status)
        out.append(Step(attempt, phase_pb2.ACTION_PHASE_ABORTED, 0, meta["deletionTimestamp"], ABORTED_MESSAGE, from_history=False))
    return out


def count(body: dict[str, Any]) -> int:
    return len(steps(body))


@dataclass(frozen=True)
class Reporting:
    """What events need beside the TaskAction: the cluster's name and the log-link configuration."""

    cluster: str = ""
    logs: LogConfig = field(default_factory=LogConfig)


def _timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _template(body: dict[str, Any]) -> tasks_pb2.TaskTemplate:
    """The action's TaskTemplate, decoded once per derivation; empty when it cannot be (no log links of its own)."""
    try:
        return decode_task_template((body.get("spec") or {}).get("taskTemplate"))
    except SpecError:
        return tasks_pb2.TaskTemplate()


def outputs(body: dict[str, Any], attempt: int) -> common_pb2.OutputReferences | None:
    """outputRefs: under the attempt's output prefix; none without a usable runOutputBase."""
    meta, spec = body["metadata"], body.get("spec") or {}
    if not spec.get("runOutputBase"):
        return None
    try:
        prefix = paths.action_output_prefix(meta["namespace"], meta["name"], spec["runOutputBase"], spec.get("actionName") or "", attempt)
    except ValueError:
        return None
    return common_pb2.OutputReferences(output_uri=f"{prefix}/outputs.pb", report_uri=f"{prefix}/report.html")


def attempt_links(
    body: dict[str, Any], template: tasks_pb2.TaskTemplate, attempt: int, config: LogConfig, pod: dict[str, Any] | None, at: datetime,
    started: datetime | None = None,
) -> list[Any]:
    """The log links of one attempt as of `at`; `started` stands in for the pod's creation when the pod is gone."""
    meta, spec = body["metadata"], body.get("spec") or {}
    name = pod_name(meta["name"], attempt)
    container, container_id = log_links.logged_container(template, name, pod)
    pod_meta = (pod or {}).get("metadata") or {}
    created = parse_time(pod_meta.get("creationTimestamp")) or started or at
    link_input = log_links.LogInput(
        pod_name=name,
        namespace=meta["namespace"],
        container_name=container,
        pod_start=created,
        pod_finish=at,
        run_name=spec.get("runName") or "",
        action_name=spec.get("actionName") or "",
        project=spec.get("project") or "",
        domain=spec.get("domain") or "",
        retry_attempt=retry_index(attempt),
        task_id=template.id if template.HasField("id") else None,
        container_id=container_id,
        pod_uid=pod_meta.get("uid") or "",
        hostname=((pod or {}).get("spec") or {}).get("hostname") or "",
    )
    return log_links.task_logs(config, template, link_input)


def current_links(body: dict[str, Any], config: LogConfig, pod: dict[str, Any] | None, now: datetime) -> list[Any]:
    """The log links of the action's current attempt, as its latest event carries them ([] before its pod had
    containers): for `taskaction get` / `logs`, so that logs can be found once the pod is gone."""
    current = [step for step in steps(body) if step.attempt == current_attempt(body.get("status") or {}) and step.from_history]
    if not any(step.had_containers for step in current):
        return []
    at = parse_time(current[-1].occurred_at) if is_terminal(body.get("status") or {}) else now
    return attempt_links(body, _template(body), current[-1].attempt, config, pod, at or now, parse_time(current[0].occurred_at))


def _primary_container(template: tasks_pb2.TaskTemplate, name: str, pod: dict[str, Any] | None) -> str:
    return log_links.primary_container_name(pod) if pod is not None else log_links.template_primary_container(template, name)


def build(
    body: dict[str, Any],
    template: tasks_pb2.TaskTemplate,
    step: Step,
    reporting: Reporting,
    pod: dict[str, Any] | None,
    first_seen: datetime | None,
    reported: datetime,
) -> ActionEvent:
    """buildActionEvent for one step; `first_seen` is when the attempt began (its first entry)."""
    meta, spec, status = body["metadata"], body.get("spec") or {}, body.get("status") or {}
    updated = parse_time(step.occurred_at) or reported
    event = ActionEvent(
        id=identifier_pb2.ActionIdentifier(
            run=identifier_pb2.RunIdentifier(project=spec.get("project") or "", domain=spec.get("domain") or "", name=spec.get("runName") or ""),
            name=spec.get("actionName") or "",
        ),
        attempt=step.attempt,
        phase=step.phase,  # type: ignore[arg-type]
        version=step.version,
        updated_time=_timestamp(updated),
        reported_time=_timestamp(reported),
        cluster=reporting.cluster,
        cache_status=int(status.get("cacheStatus") or 0) if step.from_history else 0,  # type: ignore[arg-type]
    )
    if step.error is not None:
        event.error_info.CopyFrom(step.error)
    refs = outputs(body, step.attempt)
    if refs is not None:
        event.outputs.CopyFrom(refs)
    if step.message and step.phase not in _OUTCOMES:
        event.cluster_events.add(message=step.message, occurred_at=_timestamp(updated))
    if step.from_history and step.had_containers and step.phase in _LOGGED_PHASES:
        name = pod_name(meta["name"], step.attempt)
        event.log_info.extend(attempt_links(body, template, step.attempt, reporting.logs, pod, updated, first_seen))
        event.log_context.CopyFrom(log_links.log_context(meta["namespace"], name, _primary_container(template, name, pod), pod))
    return event


def action_events(body: dict[str, Any], reporting: Reporting, pod_of: PodOf, now: datetime, start: int = 0) -> list[ActionEvent]:
    """The events from the `start`-th on. Each is a microsecond later than the one before in reported_time, which
    the control plane orders an attempt's events by, so events sent together keep their order."""
    all_steps = steps(body)
    if len(all_steps) <= start:
        return []
    template = _template(body)
    began: dict[int, datetime] = {}
    for step in all_steps:
        moment = parse_time(step.occurred_at)
        if moment is not None:
            began.setdefault(step.attempt, moment)
    return [
        build(body, template, step, reporting, pod_of(step.attempt), began.get(step.attempt), now + timedelta(microseconds=i))
        for i, step in enumerate(all_steps[start:])
    ]
