"""The reconcile decision for a task TaskAction: pure, from what the API server holds to a Plan.

A port of the Go executor's reconcileTask / handleAbortAndFinalize (flyteorg/flyte executor/pkg/controller),
with the differences listed in docs/flyte-compatibility.md.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from flyteidl2.core import tasks_pb2
from pydantic import ValidationError

from ..api import constants as c
from ..api.decoding import SpecError, decode_task_template
from ..api.models import TaskAction
from ..pods import phase as ph
from ..pods import templating
from ..pods.builder import build_pod, command_lines, pod_context
from ..pods.naming import pod_name
from ..pods.podtemplate import PodTemplateLookup
from ..settings import Settings
from ..storage import paths
from ..storage.inputs import InputsLookup
from ..storage.outputs import OutputCheck
from . import ownership, plugin_state
from . import status as st
from .plan import Event, Plan

REQUIRED_TASK_FIELDS = ("runName", "project", "domain", "actionName", "taskType", "taskTemplate", "inputUri", "runOutputBase")
PARENT_POLL_SECONDS = 5.0
STORAGE_RETRY_SECONDS = 10.0
CODE_OUTPUTS_NOT_FOUND = "OutputsNotFound"
CODE_STORAGE_READ_FAILED = "OutputsReadFailed"


def observed_attempts(status: dict[str, Any]) -> int:
    return max(int(status.get("attempts") or 0), 1)


def max_attempts(template: tasks_pb2.TaskTemplate) -> int:
    return template.metadata.retries.retries + 1


def _invalid(body: dict[str, Any], message: str, now: datetime) -> Plan:
    status = copy.deepcopy(body.get("status") or {})
    st.fail_terminally(status, c.REASON_INVALID_SPEC, ph.ExecError(c.REASON_INVALID_SPEC, c.KIND_USER, message), now)
    plan = Plan(status_patch=st.status_patch(body.get("status") or {}, status))
    plan.terminal_labels = st.terminal_labels(body["metadata"].get("labels") or {}, status, now)
    plan.events.append(Event("Warning", "FailedValidation", message))
    return plan


def validate(body: dict[str, Any]) -> tuple[TaskAction, tasks_pb2.TaskTemplate]:
    """Raise SpecError naming the field(s) at fault."""
    spec = body.get("spec") or {}
    missing = [f for f in REQUIRED_TASK_FIELDS if not spec.get(f)]
    if missing:
        raise SpecError(f"required spec fields are empty: [{' '.join(missing)}]")
    try:
        ta = TaskAction.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        raise SpecError(problems) from exc
    return ta, decode_task_template(ta.spec.task_template)


def _finish(body: dict[str, Any], status: dict[str, Any], plan: Plan, info: ph.PhaseInfo, now: datetime, settings: Settings) -> Plan:
    spec = body["spec"]
    status["pluginPhase"] = info.phase.value
    status.setdefault("pluginPhaseVersion", 0)
    status["attempts"] = observed_attempts(status)
    status.setdefault("cacheStatus", 0)
    status["stateJson"] = st.state_json(spec["runName"], spec["actionName"], info.phase.value, now)
    old = body.get("status") or {}
    plan.status_patch = st.status_patch(old, status)
    if plan.status_patch is not None:
        _phase_events(old, status, plan)
    if st.is_terminal(status):
        plan.terminal_labels = st.terminal_labels(body["metadata"].get("labels") or {}, status, now)
    else:
        plan.requeue(settings.resync_seconds)
    return plan


def _phase_events(old: dict[str, Any], new: dict[str, Any], plan: Plan) -> None:
    """One Kubernetes Event per phase entered, so `kubectl describe` tells the story."""
    before = len(old.get("phaseHistory") or [])
    for entry in (new.get("phaseHistory") or [])[before:]:
        failed = entry["phase"] in (c.REASON_PERMANENT_FAILURE, c.REASON_RETRYABLE_FAILURE, c.REASON_ABORTED)
        plan.events.append(Event("Warning" if failed else "Normal", entry["phase"], entry.get("message") or entry["phase"]))


def _system_failure(
    body: dict[str, Any],
    status: dict[str, Any],
    plan: Plan,
    error: ph.ExecError,
    now: datetime,
    settings: Settings,
    restart: bool = True,
) -> Plan:
    """recordSystemError: count it, give up past the limit; attempts are not consumed. With `restart` the attempt
    starts over (its pod is gone or going); without, the same pod is looked at again later."""
    failures = int(status.get("systemFailures") or 0) + 1
    status["systemFailures"] = failures
    plan.events.append(Event("Warning", "FailedPluginHandle", f"system error: {error.describe()}"))
    limit = settings.effective_max_system_failures
    if failures > limit:
        fatal = ph.ExecError(
            c.CODE_MAX_SYSTEM_FAILURES, c.KIND_SYSTEM, f"failed with system error {failures} times: {error.describe()}"
        )
        st.map_phase_to_conditions(status, ph.PhaseInfo(ph.Phase.PERMANENT_FAILURE, fatal.message, fatal), now)
        return _finish(body, status, plan, ph.PhaseInfo(ph.Phase.PERMANENT_FAILURE, fatal.message, fatal), now, settings)
    status["errorState"] = st.error_state(error)
    if not restart:
        status["pluginPhase"] = status.get("pluginPhase") or ph.Phase.RUNNING.value
        plan.status_patch = st.status_patch(body.get("status") or {}, status)
        plan.requeue(STORAGE_RETRY_SECONDS)
        return plan
    plugin_state.reset(status)
    st.append_phase_history(status, c.REASON_RETRYABLE_FAILURE, error.describe(), now)
    info = ph.queued(f"system failure {failures}/{limit}, restarting attempt: {error.describe()}")
    st.map_phase_to_conditions(status, info, now)
    return _finish(body, status, plan, info, now, settings)


def abort(body: dict[str, Any], pod: dict[str, Any] | None) -> Plan:
    """The TaskAction is being deleted: stop its pod, then let it go."""
    meta = body["metadata"]
    if c.FINALIZER not in (meta.get("finalizers") or []):
        return Plan()
    plan = Plan(remove_finalizer=True)
    if not st.is_terminal(body.get("status") or {}):
        # Terminal actions have nothing running; their pods go with them by garbage collection.
        if pod is not None:
            plan.delete_pod = pod["metadata"]["name"]
        plan.events.append(Event("Normal", c.REASON_ABORTED, "TaskAction deleted: pod aborted"))
    return plan


def reconcile_task(
    body: dict[str, Any],
    pod: dict[str, Any] | None,
    parent: dict[str, Any] | None,
    now: datetime,
    settings: Settings,
    outputs: OutputCheck | None = None,
    pod_template: PodTemplateLookup | None = None,
    inputs: InputsLookup | None = None,
) -> Plan:
    """`pod` is the pod of the current attempt (`<name>-<attempts-1>`) or None; `parent` the parent TaskAction.
    What the plan may ask the shell to look up first, then to decide again with: `outputs`, what the succeeded pod
    left in storage (`check_outputs`); `pod_template`, the base of a pod to create (`needs_pod_template`);
    `inputs`, the literals its `{{.Inputs.x}}` variables stand for (`needs_inputs`)."""
    meta = body["metadata"]
    old_status = body.get("status") or {}
    if meta.get("deletionTimestamp"):
        return abort(body, pod)
    if st.is_terminal(old_status):
        return Plan(terminal_labels=st.terminal_labels(meta.get("labels") or {}, old_status, now))

    try:
        ta, template = validate(body)
    except SpecError as exc:
        return _invalid(body, str(exc), now)

    plan = Plan()
    status = copy.deepcopy(old_status)
    metadata_patch: dict[str, Any] = {}

    gate = ownership.decide(body, parent)
    if gate.owner_references is not None:
        metadata_patch["ownerReferences"] = gate.owner_references
    if gate.error:
        error = ph.ExecError("OwnerReferenceMismatch", c.KIND_USER, gate.error)
        plan.events.append(Event("Warning", "OwnerReferenceMismatch", gate.error))
        plan.metadata_patch = metadata_patch or None
        st.map_phase_to_conditions(status, ph.permanent(error.code, error.message), now)
        return _finish(body, status, plan, ph.permanent(error.code, error.message), now, settings)
    if not gate.ready and not plugin_state.is_started(status):
        plan.metadata_patch = metadata_patch or None
        created = datetime.fromisoformat(meta["creationTimestamp"].replace("Z", "+00:00")) if meta.get("creationTimestamp") else now
        deadline = created + timedelta(seconds=settings.parent_wait_seconds)
        if gate.missing and now >= deadline:
            code = c.CODE_PARENT_DELETED if "deleted" in (gate.waiting_message or "") else c.CODE_PARENT_NOT_FOUND
            info = ph.permanent(code, f"{gate.waiting_message} after {ph.go_duration(settings.parent_wait_seconds)}")
            st.map_phase_to_conditions(status, info, now)
            return _finish(body, status, plan, info, now, settings)
        info = ph.queued(gate.waiting_message or "waiting for parent")
        st.map_phase_to_conditions(status, info, now)
        plan.waiting_for_parent = ownership.parent_name(body["spec"])
        plan = _finish(body, status, plan, info, now, settings)
        plan.requeue(max((deadline - now).total_seconds(), 0.0) if gate.missing else PARENT_POLL_SECONDS)
        return plan

    if c.FINALIZER not in (meta.get("finalizers") or []):
        metadata_patch["finalizers"] = list(meta.get("finalizers") or []) + [c.FINALIZER]
    plan.metadata_patch = metadata_patch or None

    attempt = observed_attempts(status)
    expected_pod = pod_name(meta["name"], attempt)
    if pod is not None and pod["metadata"]["name"] != expected_pod:
        pod = None

    if not plugin_state.is_started(status):
        if pod is not None and pod["metadata"].get("deletionTimestamp"):
            # A pod of this name from before a system restart is still going away: create once it is gone.
            info = ph.queued(f"waiting for the previous pod {expected_pod} to terminate")
            st.map_phase_to_conditions(status, info, now)
            plan = _finish(body, status, plan, info, now, settings)
            plan.requeue(1.0)
            return plan
        if pod is None:
            template_name = template.metadata.pod_template_name or settings.default_pod_template_name
            if template_name and (pod_template is None or pod_template.name != template_name):
                return Plan(needs_pod_template=template_name)
            if template_name and pod_template.found is None and template.metadata.pod_template_name:
                info = ph.permanent("BadTaskSpecification", f"PodTemplate '{template_name}' does not exist")
                st.map_phase_to_conditions(status, info, now)
                return _finish(body, status, plan, info, now, settings)
            names = templating.input_names(command_lines(template))
            if names and inputs is None:
                return Plan(needs_inputs=f"{paths.input_prefix(ta.spec.input_uri or '')}/{paths.INPUTS_FILE}")
            rendered: dict[str, str] = {}
            if names:
                if inputs.error:
                    error = ph.ExecError("InputsReadFailed", c.KIND_SYSTEM, inputs.error)
                    return _system_failure(body, status, plan, error, now, settings, restart=False)
                missing = sorted(names - set(inputs.literals or {}))
                try:
                    if missing:
                        raise ValueError(f"requested input is not found [{', '.join(missing)}]")
                    rendered = {name: templating.render_literal(inputs.literals[name]) for name in names}
                except ValueError as exc:
                    info = ph.permanent("BadTaskSpecification", str(exc))
                    st.map_phase_to_conditions(status, info, now)
                    return _finish(body, status, plan, info, now, settings)
            try:
                plan.create_pod = build_pod(
                    ta, template, attempt, settings, pod_template.found if pod_template else None, rendered or None
                )
            except SpecError as exc:
                return _invalid(body, str(exc), now)
        plugin_state.started(status)
        status["systemFailures"] = status.get("systemFailures") or 0
        # A pod already there was created by us before a restart: adopt it, the history still starts at Queued.
        info = ph.queued("task submitted to K8s")
        st.map_phase_to_conditions(status, info, now)
        if pod is None:
            return _finish(body, status, plan, info, now, settings)

    if pod is None:
        error = ph.ExecError(c.CODE_RESOURCE_DELETED, c.KIND_SYSTEM, f"resource not found, name [{meta['namespace']}/{expected_pod}]")
        return _system_failure(body, status, plan, error, now, settings)

    info = ph.demystify(pod, now, settings)
    if pod["metadata"].get("deletionTimestamp") and info.phase not in (
        ph.Phase.SUCCESS,
        ph.Phase.RETRYABLE_FAILURE,
        ph.Phase.PERMANENT_FAILURE,
    ):
        info = ph.retryable(
            "UnexpectedObjectDeletion",
            f"object [{meta['namespace']}/{expected_pod}] terminated unexpectedly in the background",
            c.KIND_SYSTEM,
        )
    if info.phase is ph.Phase.UNDEFINED:
        plan.requeue(settings.resync_seconds)
        return plan

    if info.is_system_retryable:
        plan.delete_pod = expected_pod
        return _system_failure(body, status, plan, info.error, now, settings)  # type: ignore[arg-type]

    if info.phase is ph.Phase.SUCCESS and settings.read_outputs:
        if outputs is None:
            plan.check_outputs = pod_context(ta, attempt).output_prefix
            return plan
        if outputs.storage_error:
            error = ph.ExecError(CODE_STORAGE_READ_FAILED, c.KIND_SYSTEM, outputs.storage_error)
            return _system_failure(body, status, plan, error, now, settings, restart=False)
        info = outputs_phase(outputs, template)

    # System failures count per attempt (never reset by a pod that runs again): a pod the platform keeps killing
    # still ends, at MaxSystemFailuresExceeded. A new attempt starts the count over.
    if info.phase is ph.Phase.RETRYABLE_FAILURE:
        error = info.error or ph.ExecError(c.CODE_MAX_RETRIES, c.KIND_USER, f"task failed after {attempt} attempt(s)")
        if attempt < max_attempts(template):
            # In-place restart: the failed attempt stays on record in phaseHistory and errorState.
            plan.delete_pod = expected_pod
            status["errorState"] = st.error_state(error)
            st.append_phase_history(status, c.REASON_RETRYABLE_FAILURE, f"attempt {attempt}: {error.describe()}", now)
            status["attempts"] = attempt + 1
            status["systemFailures"] = 0
            plugin_state.reset(status)
            info = ph.queued("restarting task")
            st.map_phase_to_conditions(status, info, now)
            plan = _finish(body, status, plan, info, now, settings)
            plan.requeue(0.0)
            return plan
        info = ph.PhaseInfo(ph.Phase.PERMANENT_FAILURE, error.message, error)

    st.map_phase_to_conditions(status, info, now)
    plan = _finish(body, status, plan, info, now, settings)
    if info.recheck_after is not None:
        plan.requeue(info.recheck_after)
    return plan


def outputs_phase(outputs: OutputCheck, template: tasks_pb2.TaskTemplate) -> ph.PhaseInfo:
    """A succeeded pod is a succeeded task only without error.pb, and with outputs.pb when outputs are declared."""
    if outputs.error is not None:
        if outputs.recoverable:
            return ph.PhaseInfo(ph.Phase.RETRYABLE_FAILURE, outputs.error.message, outputs.error)
        return ph.PhaseInfo(ph.Phase.PERMANENT_FAILURE, outputs.error.message, outputs.error)
    if not outputs.outputs_found and template.interface.outputs.variables:
        names = ", ".join(sorted(entry.key for entry in template.interface.outputs.variables))
        return ph.retryable(CODE_OUTPUTS_NOT_FOUND, f"the task declares outputs ({names}) but wrote no outputs.pb")
    return ph.PhaseInfo(ph.Phase.SUCCESS)


# Pod-create errors that are the task's fault (plugin_manager.go launchResource); others are system failures.
_CREATE_ERRORS = {
    403: ("RuntimeFailure", False),
    413: ("EntityTooLarge", True),
    422: ("InvalidResource", True),
    400: ("BadRequest", True),
}


def after_create_error(body: dict[str, Any], http_status: int, message: str, now: datetime, settings: Settings) -> Plan:
    """The pod could not be created: map the API error onto the action."""
    old = body.get("status") or {}
    status = copy.deepcopy(old)
    plan = Plan()
    attempt = observed_attempts(status)
    if http_status in _CREATE_ERRORS:
        code, permanent_failure = _CREATE_ERRORS[http_status]
        error = ph.ExecError(code, c.KIND_USER, message)
        template = decode_task_template(body["spec"]["taskTemplate"])
        if not permanent_failure and attempt < max_attempts(template):
            status["errorState"] = st.error_state(error)
            st.append_phase_history(status, c.REASON_RETRYABLE_FAILURE, f"attempt {attempt}: {error.describe()}", now)
            status["attempts"] = attempt + 1
            plugin_state.reset(status)
            info = ph.queued("restarting task")
        else:
            info = ph.PhaseInfo(ph.Phase.PERMANENT_FAILURE, message, error)
        plan.events.append(Event("Warning", "FailedCreatePod", error.describe()))
        st.map_phase_to_conditions(status, info, now)
        return _finish(body, status, plan, info, now, settings)
    error = ph.ExecError(f"CreateFailed{http_status}" if http_status else "CreateFailed", c.KIND_SYSTEM, message)
    return _system_failure(body, status, plan, error, now, settings)
