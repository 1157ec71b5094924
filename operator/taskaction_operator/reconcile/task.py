"""The reconcile decision for a task TaskAction: pure, from what the API server holds to a Plan.

A port of the Go executor's Reconcile (flyteorg/flyte executor/pkg/controller), in its stages: handleAbortAndFinalize
or the terminal short-circuit (`abort_or_finished`), validateTaskAction (`validate`), the parent gate that upstream
leaves to the actions service (`parent_gate`), the pod plugin's launch (`start_attempt`) and monitor
(`observe_pod`, `after_success`), and the retry bookkeeping of reconcileTask / recordSystemError (`retry_or_fail`,
`TaskReconcile.system_failure`). The differences are listed in docs/flyte-compatibility.md.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from flyteidl2.core import tasks_pb2
from pydantic import ValidationError

from ..api import constants as c
from ..api import phase as ph
from ..api.decoding import SpecError, decode_task_template
from ..api.json_values import json_copy
from ..api.models import TaskAction, TaskActionSpec, TaskActionStatus
from ..api.times import parse_time
from ..pods import templating
from ..pods.builder import build_pod, command_lines, pod_context
from ..pods.errors import BadTaskSpecification
from ..pods.deadline import attempt_deadline, timeout_seconds
from ..pods.naming import pod_name
from ..pods.phase import SCHEDULING, demystify, finished_at
from ..pods.policy import describe_violations, pod_policy_violations
from ..pods.shape import k8s_pod_problem
from ..pods.task_types import plugin_not_found
from ..settings import Settings
from ..storage import paths
from ..storage.outputs import OutputCheck
from . import caching, ownership, plugin_state
from . import status as st
from .lookups import NOTHING_LOOKED_UP, CreateRefused, Lookups
from .plan import Event, FindPodTemplate, Lookup, Plan, ReadInputs, ReadOutputs

REQUIRED_TASK_FIELDS = ("runName", "project", "domain", "actionName", "taskType", "taskTemplate", "inputUri", "runOutputBase")
PARENT_POLL_SECONDS = 5.0
STORAGE_RETRY_SECONDS = 10.0
CODE_OUTPUTS_NOT_FOUND = "OutputsNotFound"
CODE_STORAGE_READ_FAILED = "OutputsReadFailed"
CODE_POD_NAME_TAKEN = "PodNameTaken"
CODE_POD_POLICY_VIOLATION = "PodPolicyViolation"
ADMISSION_POLL_SECONDS = 5.0  # an action held by a concurrency limit looks again this often


def observed_attempts(status: dict[str, Any]) -> int:
    return max(int(status.get("attempts") or 0), 1)


def max_attempts(template: tasks_pb2.TaskTemplate) -> int:
    return template.metadata.retries.retries + 1


# Valid specs by a digest of their JSON (a spec alone decides whether it is valid, and what its template is): a spec is
# checked and its template decoded once, not on every reconcile of the action (a tenth of the reconcile's CPU). The
# digest, not the JSON: orjson's output keeps a buffer of 16 KiB however short the JSON.
_valid_specs: OrderedDict[bytes, tuple[TaskActionSpec, tasks_pb2.TaskTemplate]] = OrderedDict()
VALID_SPECS_REMEMBERED = 256


def validate(body: dict[str, Any]) -> tuple[TaskAction, tasks_pb2.TaskTemplate]:
    """Raise SpecError naming the field(s) at fault."""
    spec = body.get("spec") or {}
    missing = [f for f in REQUIRED_TASK_FIELDS if not spec.get(f)]
    if missing:
        raise SpecError(f"required spec fields are empty: [{' '.join(missing)}]")
    known = hashlib.blake2b(orjson.dumps(spec), digest_size=16).digest()
    valid = _valid_specs.get(known)
    if valid is None:
        ta, template = _checked(body)
        _valid_specs[known] = (ta.spec, template)
        if len(_valid_specs) > VALID_SPECS_REMEMBERED:
            _valid_specs.popitem(last=False)
        return ta, template
    _valid_specs.move_to_end(known)
    valid_spec, template = valid
    try:
        status = TaskActionStatus.model_validate(body.get("status") or {})
    except ValidationError:
        return _checked(body)  # raises, with the whole model's message
    ta = TaskAction.model_construct(
        api_version=body.get("apiVersion"), kind=body.get("kind"), metadata=body.get("metadata") or {}, spec=valid_spec, status=status
    )
    return ta, template


def _checked(body: dict[str, Any]) -> tuple[TaskAction, tasks_pb2.TaskTemplate]:
    spec = body["spec"]
    try:
        ta = TaskAction.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"spec.{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        raise SpecError(problems) from exc
    problem = storage_url_problem(spec["runOutputBase"])
    if problem is not None:
        # Upstream cannot build the task context from it and requeues for ever; it is the spec's fault.
        raise SpecError(f"runOutputBase {spec['runOutputBase']!r} {problem}")
    template = decode_task_template(ta.spec.task_template)
    problem = k8s_pod_problem(template)
    if problem is not None:
        raise SpecError(problem)
    return ta, template


def storage_url_problem(url: str) -> str | None:
    """Why a storage URL of the spec cannot be an object store's prefix (`<scheme>://<bucket>/<path>`), or None."""
    if any(ord(ch) < 32 for ch in url):
        return "holds a control character"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"is not a URL: {exc}"
    if not parts.scheme or not parts.netloc:
        return "is not a URL with a scheme and a bucket (s3://bucket/path)"
    return None


def unread_scheme(field: str, scheme: str, settings: Settings) -> str:
    allowed = ", ".join(settings.storage_schemes)
    return f"{field} uses the scheme {scheme!r}: the operator reads storage through {allowed} only"


def invalid(body: dict[str, Any], message: str, now: datetime, reason: str = c.REASON_INVALID_SPEC) -> Plan:
    """validateTaskAction's failure (InvalidSpec, PluginNotFound): terminal at once, no finalizer, no phase history."""
    status = copy.deepcopy(body.get("status") or {})
    st.fail_terminally(status, reason, ph.ExecError(reason, c.KIND_USER, message), now)
    plan = Plan(status_patch=st.status_patch(body.get("status") or {}, status))
    plan.terminal_labels = st.terminal_labels(body["metadata"].get("labels") or {}, status, now)
    plan.remove_finalizer = c.FINALIZER in (body["metadata"].get("finalizers") or [])
    plan.events.append(Event("Warning", "FailedValidation" if reason == c.REASON_INVALID_SPEC else "FailedPluginResolve", message))
    return plan


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


def abort_or_finished(body: dict[str, Any], pod: dict[str, Any] | None, now: datetime) -> Plan | None:
    """Deleted: abort. Terminal: only the terminal labels are left to ensure."""
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        return abort(body, pod)
    status = body.get("status") or {}
    if st.is_terminal(status):
        # Nothing is left to abort: the finalizer goes with the terminal labels (or alone, if they are there).
        return Plan(
            terminal_labels=st.terminal_labels(meta.get("labels") or {}, status, now),
            remove_finalizer=c.FINALIZER in (meta.get("finalizers") or []),
        )
    return None


class TaskReconcile:
    """One decision on a valid, live task action: the status it builds from the stored one, and the plan."""

    def __init__(
        self, body: dict[str, Any], ta: TaskAction, template: tasks_pb2.TaskTemplate, now: datetime, settings: Settings, lookups: Lookups
    ):
        self.body = body
        self.ta = ta
        self.template = template
        self.now = now
        self.settings = settings
        self.lookups = lookups
        self.stored = body.get("status") or {}
        self.status = json_copy(self.stored)
        self.plan = Plan()
        self.metadata_patch: dict[str, Any] = {}

    @property
    def meta(self) -> dict[str, Any]:
        return self.body["metadata"]

    @property
    def attempt(self) -> int:
        return observed_attempts(self.status)

    @property
    def pod_name(self) -> str:
        return pod_name(self.meta["name"], self.attempt)

    @property
    def launch(self) -> str:
        """This launch of the attempt: a system failure restarts the attempt under the same pod name."""
        return f"{self.attempt}.{int(self.status.get('systemFailures') or 0)}"

    def conclude(self, info: ph.PhaseInfo) -> Plan:
        """mapPhaseToConditions, then the status write (when anything changed) and what follows from the phase."""
        st.map_phase_to_conditions(self.status, info, self.now)
        return self.finish(info)

    def pending(self) -> Plan:
        """The plan so far, with the metadata this reconcile adds."""
        self.plan.metadata_patch = self.metadata_patch or None
        return self.plan

    def finish(self, info: ph.PhaseInfo) -> Plan:
        if caching.enabled(self) and caching.holds_reservation(self):
            reserving = caching.keep_or_release(self)
            if reserving is not None:
                return reserving
        status, plan = self.status, self.pending()
        spec = self.body["spec"]
        status["pluginPhase"] = info.phase.value
        status.setdefault("pluginPhaseVersion", 0)
        status["attempts"] = observed_attempts(status)
        status.setdefault("cacheStatus", 0)
        status["stateJson"] = st.state_json(spec["runName"], spec["actionName"], info.phase.value, self.now)
        plan.status_patch = st.status_patch(self.stored, status)
        if plan.status_patch is not None:
            plan.events.extend(phase_events(self.stored, status))
        if st.is_terminal(status):
            plan.terminal_labels = st.terminal_labels(self.meta.get("labels") or {}, status, self.now)
            # Finished: nothing will be left to abort, so the finalizer is not added, or goes with the labels.
            finalizers = (plan.metadata_patch or {}).get("finalizers")
            if finalizers is not None:
                plan.metadata_patch = {k: v for k, v in plan.metadata_patch.items() if k != "finalizers"} or None  # type: ignore[union-attr]
            plan.remove_finalizer = c.FINALIZER in (self.meta.get("finalizers") or [])
        else:
            plan.requeue(self.settings.resync_seconds)
        if info.recheck_after is not None:
            plan.requeue(info.recheck_after)
        return plan

    def system_failure(self, error: ph.ExecError, stale_error: str | None = None) -> Plan:
        """recordSystemError: count it, give up past the limit, else start the attempt over (its pod is gone or
        going); attempts are not consumed. `stale_error`: the error.pb that caused it, for the next run to ignore."""
        status = self.status
        failures = int(status.get("systemFailures") or 0) + 1
        status["systemFailures"] = failures
        self.plan.events.append(Event("Warning", "FailedPluginHandle", f"system error: {error.describe()}"))
        limit = self.settings.effective_max_system_failures
        if failures > limit:
            fatal = ph.ExecError(
                c.CODE_MAX_SYSTEM_FAILURES, c.KIND_SYSTEM, f"failed with system error {failures} times: {error.describe()}"
            )
            return self.conclude(ph.PhaseInfo(ph.Phase.PERMANENT_FAILURE, fatal.message, fatal))
        status["errorState"] = st.error_state(error)
        # The attempt's output prefix keeps every error.pb: one an earlier run left stays stale through later restarts.
        plugin_state.reset(status, stale_error or plugin_state.stale_error(status))
        st.append_phase_history(status, c.REASON_RETRYABLE_FAILURE, error.describe(), self.now)
        return self.conclude(ph.queued(f"system failure {failures}/{limit}, restarting attempt: {error.describe()}"))

    def storage_unreadable(self, error: ph.ExecError, since: datetime) -> Plan:
        """The store cannot be read (an outage, a refusal): nothing is re-run and no system failure counted; the pod
        is kept and the store asked again every 10 s, for up to storage_wait_seconds after `since` (when the pod
        ended, or the action was made), then the action fails with the error. Upstream counts each read failure
        against the system-failure budget, so a minute's outage fails every action that ends meanwhile."""
        waited = (self.now - since).total_seconds()
        if waited >= self.settings.storage_wait_seconds:
            message = f"{error.message} (still, {ph.go_duration(waited)} after the pod ended)"
            return self.conclude(ph.permanent(error.code, message, c.KIND_SYSTEM))
        status = self.status
        status["errorState"] = st.error_state(error)
        status["pluginPhase"] = status.get("pluginPhase") or ph.Phase.RUNNING.value
        plan = self.pending()
        plan.status_patch = st.status_patch(self.stored, status)
        plan.requeue(min(STORAGE_RETRY_SECONDS, self.settings.storage_wait_seconds - waited))
        return plan

    def restart(self, error: ph.ExecError) -> Plan:
        """An in-place restart after a user failure: the failed attempt stays on record in phaseHistory and
        errorState, and the next attempt starts from scratch."""
        status = self.status
        status["errorState"] = st.error_state(error)
        st.append_phase_history(status, c.REASON_RETRYABLE_FAILURE, f"attempt {self.attempt}: {error.describe()}", self.now)
        status["attempts"] = self.attempt + 1
        status["systemFailures"] = 0
        plugin_state.reset(status)
        return self.conclude(ph.queued("restarting task"))

    def lookup(self, request: Lookup) -> Plan:
        """Nothing to do until the shell has looked this up."""
        assert not self.lookups.answers(request), f"{request} was answered already"
        return Plan(lookup=request)


def phase_events(old: dict[str, Any], new: dict[str, Any]) -> list[Event]:
    """One Kubernetes Event per phase entered, so `kubectl describe` tells the story."""
    before = len(old.get("phaseHistory") or [])
    events = []
    for entry in (new.get("phaseHistory") or [])[before:]:
        failed = entry["phase"] in (c.REASON_PERMANENT_FAILURE, c.REASON_RETRYABLE_FAILURE, c.REASON_ABORTED)
        events.append(Event("Warning" if failed else "Normal", entry["phase"], entry.get("message") or entry["phase"]))
    return events


def reconcile_task(
    body: dict[str, Any],
    pod: dict[str, Any] | None,
    parent: dict[str, Any] | None,
    now: datetime,
    settings: Settings,
    lookups: Lookups = NOTHING_LOOKED_UP,
    ancestors: Sequence[dict[str, Any]] = (),
    start_blocked: str | None = None,
) -> Plan:
    """`pod` is the pod of the current attempt (`<name>-<attempts-1>`) or None; `parent` the parent TaskAction and
    `ancestors` its parent and up, as far as known; `lookups` what the shell looked up because an earlier plan of
    this reconcile asked for it; `start_blocked` why a new attempt may not start now (a concurrency limit)."""
    done = abort_or_finished(body, pod, now)
    if done is not None:
        return done
    try:
        ta, template = validate(body)
    except SpecError as exc:
        return invalid(body, str(exc), now)
    no_plugin = plugin_not_found(ta.spec.task_type or "")
    if no_plugin is not None:
        return invalid(body, no_plugin, now, c.REASON_PLUGIN_NOT_FOUND)
    scheme = urlsplit(body["spec"]["runOutputBase"]).scheme
    if scheme not in settings.storage_schemes:
        return invalid(body, unread_scheme("runOutputBase", scheme, settings), now)
    r = TaskReconcile(body, ta, template, now, settings, lookups)
    waiting = parent_gate(r, parent, ancestors)
    if waiting is not None:
        return waiting
    if c.FINALIZER not in (r.meta.get("finalizers") or []):
        r.metadata_patch["finalizers"] = list(r.meta.get("finalizers") or []) + [c.FINALIZER]
    if pod is not None and pod["metadata"]["name"] != r.pod_name:
        pod = None
    if pod is not None and controller_uid(pod) != r.meta.get("uid"):
        return not_our_pod(r, pod)
    if not plugin_state.is_started(r.status) and pod is None and start_blocked:
        plan = r.conclude(ph.queued(start_blocked))
        plan.requeue(ADMISSION_POLL_SECONDS)
        return plan
    if not plugin_state.is_started(r.status):
        launched = start_attempt(r, pod)
        if launched is not None:
            return launched
    return observe_pod(r, pod)


def parent_gate(r: TaskReconcile, parent: dict[str, Any] | None, ancestors: Sequence[dict[str, Any]]) -> Plan | None:
    """A child runs once its parent exists (and owns it); None when it may run."""
    gate = ownership.decide(r.body, parent, ancestors)
    if gate.owner_references is not None:
        r.metadata_patch["ownerReferences"] = gate.owner_references
    if gate.error:
        r.plan.events.append(Event("Warning", gate.error_code, gate.error))
        return r.conclude(ph.permanent(gate.error_code, gate.error))
    if gate.ready or plugin_state.is_started(r.status):
        return None
    created = parse_time(r.meta.get("creationTimestamp")) or r.now
    deadline = created + timedelta(seconds=r.settings.parent_wait_seconds)
    if gate.missing and r.now >= deadline:
        code = c.CODE_PARENT_DELETED if "deleted" in (gate.waiting_message or "") else c.CODE_PARENT_NOT_FOUND
        return r.conclude(ph.permanent(code, f"{gate.waiting_message} after {ph.go_duration(r.settings.parent_wait_seconds)}"))
    r.plan.waiting_for_parent = ownership.parent_name(r.body["spec"])
    plan = r.conclude(ph.queued(gate.waiting_message or "waiting for parent"))
    plan.requeue(max((deadline - r.now).total_seconds(), 0.0) if gate.missing else PARENT_POLL_SECONDS)
    return plan


def controller_uid(obj: dict[str, Any]) -> str | None:
    """The uid of the TaskAction that controls the object, or None."""
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == c.KIND:
            return ref.get("uid")
    return None


def not_our_pod(r: TaskReconcile, pod: dict[str, Any]) -> Plan:
    """The attempt's pod name is taken by a pod this TaskAction does not control. Pods are matched by name, so a
    TaskAction deleted and created again (same name, new uid) finds its predecessor's pod until the garbage collector
    removes it: never adopt it (its outcome is another run's); delete it and wait. A pod of the name that no
    TaskAction controls is somebody else's: the action cannot run."""
    if controller_uid(pod) is None:
        message = f"pod {r.meta['namespace']}/{r.pod_name} exists and is not controlled by this TaskAction"
        return r.conclude(ph.permanent(CODE_POD_NAME_TAKEN, message))
    if not pod["metadata"].get("deletionTimestamp"):
        r.plan.delete_pod = r.pod_name
    plan = r.conclude(ph.queued(f"waiting for pod {r.pod_name} of an earlier TaskAction of this name to go"))
    plan.requeue(1.0)
    return plan


def start_attempt(r: TaskReconcile, pod: dict[str, Any] | None) -> Plan | None:
    """Launch the attempt's pod (or adopt the one already there); None when an adopted pod is to be observed."""
    if pod is not None and pod["metadata"].get("deletionTimestamp"):
        # A pod of this name from before a system restart is still going away: create once it is gone.
        plan = r.conclude(ph.queued(f"waiting for the previous pod {r.pod_name} to terminate"))
        plan.requeue(1.0)
        return plan
    if pod is not None and pod["metadata"].get("annotations", {}).get(c.ANNOTATION_LAUNCH, r.launch) != r.launch:
        # Made by an earlier launch of this attempt, whose end is already counted: a crash came between the
        # status write and the deletion. (A pod without the mark was made before it existed: adopted, as upstream.)
        r.plan.delete_pod = r.pod_name
        plan = r.conclude(ph.queued(f"waiting for the previous pod {r.pod_name} to terminate"))
        plan.requeue(1.0)
        return plan
    if pod is None and r.lookups.create_refused is not None:
        return create_refused(r, r.lookups.create_refused)
    wait = retry_backoff_left(r) if pod is None else 0.0
    if wait > 0:
        plan = r.conclude(ph.queued(f"attempt {r.attempt} starts in {ph.go_duration(wait)} (retry backoff)"))
        plan.requeue(wait)
        return plan
    if pod is None:
        cached = caching.before_launch(r) if caching.enabled(r) else None
        if cached is not None:
            return cached
        made = make_pod(r)
        if isinstance(made, Plan):
            return made
        made["metadata"].setdefault("annotations", {})[c.ANNOTATION_LAUNCH] = r.launch
        r.plan.create_pod = made
    plugin_state.started(r.status)
    r.status["systemFailures"] = r.status.get("systemFailures") or 0
    # A pod already there was created by us before a restart: adopt it, the history still starts at Queued.
    st.map_phase_to_conditions(r.status, ph.queued("task submitted to K8s"), r.now)
    if pod is None:
        return r.finish(ph.queued("task submitted to K8s"))
    return None


def retry_backoff_left(r: TaskReconcile) -> float:
    """Seconds until a user retry's attempt may start: retry_backoff_seconds after the failure that ended the
    previous attempt (its RetryableFailure in phaseHistory), doubled per further attempt, capped. A restart after a
    system failure (systemFailures > 0) does not wait."""
    base = r.settings.retry_backoff_seconds
    if base <= 0 or r.attempt < 2 or int(r.status.get("systemFailures") or 0) > 0:
        return 0.0
    failures = [h for h in r.status.get("phaseHistory") or [] if h.get("phase") == c.REASON_RETRYABLE_FAILURE]
    failed_at = parse_time(failures[-1].get("occurredAt")) if failures else None
    if failed_at is None:
        return 0.0
    delay = min(base * 2 ** (r.attempt - 2), r.settings.retry_backoff_max_seconds)
    return max((failed_at + timedelta(seconds=delay) - r.now).total_seconds(), 0.0)


def make_pod(r: TaskReconcile) -> dict[str, Any] | Plan:
    """The attempt's pod, or the plan that has to come first (a lookup) or instead (the task cannot have one)."""
    template_name = r.template.metadata.pod_template_name or r.settings.default_pod_template_name
    pod_template = None
    if template_name:
        if not r.lookups.answers(FindPodTemplate(template_name)):
            return r.lookup(FindPodTemplate(template_name))
        pod_template = r.lookups.pod_template.found  # type: ignore[union-attr]
        if pod_template is None and r.template.metadata.pod_template_name:
            return r.conclude(ph.permanent("BadTaskSpecification", f"PodTemplate '{template_name}' does not exist"))
    rendered: dict[str, str] = {}
    names = templating.input_names(command_lines(r.template))
    if names:
        inputs = r.lookups.inputs
        scheme = urlsplit(r.ta.spec.input_uri or "").scheme
        if inputs is None and scheme not in r.settings.storage_schemes:
            # Read for the template's {{.Inputs.x}}: through the allowed schemes too (never file:// for a TaskAction).
            return invalid(r.body, unread_scheme("inputUri", scheme, r.settings), r.now)
        if inputs is None:
            return r.lookup(ReadInputs(paths.inputs_file(r.ta.spec.input_uri or "")))
        if inputs.error:
            since = parse_time(r.meta.get("creationTimestamp")) or r.now
            return r.storage_unreadable(ph.ExecError("InputsReadFailed", c.KIND_SYSTEM, inputs.error), since)
        missing = sorted(names - set(inputs.literals or {}))
        try:
            if missing:
                raise ValueError(f"requested input is not found [{', '.join(missing)}]")
            rendered = {name: templating.render_literal(inputs.literals[name]) for name in names}  # type: ignore[index]
        except ValueError as exc:
            return r.conclude(ph.permanent("BadTaskSpecification", str(exc)))
    try:
        pod = build_pod(r.ta, r.template, r.attempt, r.settings, pod_template, rendered or None)
    except SpecError as exc:
        return invalid(r.body, str(exc), r.now)
    except BadTaskSpecification as exc:
        return r.conclude(ph.permanent("BadTaskSpecification", str(exc)))
    return refuse_by_policy(r, pod) or pod


def refuse_by_policy(r: TaskReconcile, pod: dict[str, Any]) -> Plan | None:
    """The pod policy (pods/policy.py) on the pod about to be created: a pod it refuses is never created, and the
    action fails at once, naming each rule and field (nothing a retry could change)."""
    violations = pod_policy_violations(pod, r.settings)
    if not violations:
        return None
    message = describe_violations(violations, r.settings.pod_security_level)
    r.plan.events.append(Event("Warning", CODE_POD_POLICY_VIOLATION, message))
    return r.conclude(ph.permanent(CODE_POD_POLICY_VIOLATION, message))


# Pod-create errors that are the task's fault (plugin_manager.go launchResource); others are system failures.
_CREATE_ERRORS = {
    403: ("RuntimeFailure", False),
    413: ("EntityTooLarge", True),
    422: ("InvalidResource", True),
    400: ("BadRequest", True),
}


def create_refused(r: TaskReconcile, refused: CreateRefused) -> Plan:
    """The API server refused the attempt's pod: map its answer onto the action."""
    if refused.http_status not in _CREATE_ERRORS:
        code = f"CreateFailed{refused.http_status}" if refused.http_status else "CreateFailed"
        return r.system_failure(ph.ExecError(code, c.KIND_SYSTEM, refused.message))
    code, permanent_failure = _CREATE_ERRORS[refused.http_status]
    error = ph.ExecError(code, c.KIND_USER, refused.message)
    r.plan.events.append(Event("Warning", "FailedCreatePod", error.describe()))
    if not permanent_failure and r.attempt < max_attempts(r.template):
        return r.restart(error)
    return r.conclude(ph.PhaseInfo(ph.Phase.PERMANENT_FAILURE, refused.message, error))


def observe_pod(r: TaskReconcile, pod: dict[str, Any] | None) -> Plan:
    """checkResourcePhase: the attempt's pod -> the action's phase."""
    if pod is None:
        where = f"{r.meta['namespace']}/{r.pod_name}"
        return r.system_failure(ph.ExecError(c.CODE_RESOURCE_DELETED, c.KIND_SYSTEM, f"resource not found, name [{where}]"))
    info = demystify(pod, r.now, r.settings)
    if info.phase is ph.Phase.QUEUED and info.reason == SCHEDULING and st.progressing_reason(r.status) == c.REASON_QUEUED:
        # Says nothing an action already Queued does not: not worth a status write.
        info = ph.queued(st.progressing_message(r.status))
    if pod["metadata"].get("deletionTimestamp") and info.phase not in (
        ph.Phase.SUCCESS,
        ph.Phase.RETRYABLE_FAILURE,
        ph.Phase.PERMANENT_FAILURE,
    ):
        info = ph.retryable(
            "UnexpectedObjectDeletion",
            f"object [{r.meta['namespace']}/{r.pod_name}] terminated unexpectedly in the background",
            c.KIND_SYSTEM,
        )
    deadline = attempt_deadline(r.template, pod)
    if deadline is not None and info.phase in (ph.Phase.QUEUED, ph.Phase.INITIALIZING, ph.Phase.RUNNING) and r.now >= deadline:
        timeout = ph.go_duration(timeout_seconds(r.template) or 0)
        info = ph.retryable(c.CODE_TASK_TIMED_OUT, f"the task's timeout [{timeout}] expired; its pod {r.pod_name} is deleted")
        r.plan.delete_pod = r.pod_name
    if info.phase is ph.Phase.UNDEFINED:
        plan = r.pending()
        plan.requeue(r.settings.resync_seconds)
        return plan
    if info.is_system_retryable:
        r.plan.delete_pod = r.pod_name
        return r.system_failure(info.error)  # type: ignore[arg-type]
    if info.phase is ph.Phase.SUCCESS and r.settings.read_outputs:
        outputs = r.lookups.outputs
        if outputs is None:
            return r.lookup(ReadOutputs(pod_context(r.ta, r.attempt).output_prefix))
        if outputs.storage_error:
            error = ph.ExecError(CODE_STORAGE_READ_FAILED, c.KIND_SYSTEM, outputs.storage_error)
            return r.storage_unreadable(error, finished_at(pod) or r.now)
        info = after_success(outputs, r.template, plugin_state.stale_error(r.status))
        if info.is_system_retryable:
            # A recoverable SYSTEM error in error.pb is the platform's: charged to the system-failure budget.
            r.plan.delete_pod = r.pod_name
            return r.system_failure(info.error, outputs.error_version)  # type: ignore[arg-type]
    if info.phase is ph.Phase.SUCCESS and caching.enabled(r):
        written = caching.write_back(r)
        if written is not None:
            return written
    plan = retry_or_fail(r, info)
    if deadline is not None and info.phase in (ph.Phase.QUEUED, ph.Phase.INITIALIZING, ph.Phase.RUNNING):
        plan.requeue(max((deadline - r.now).total_seconds(), 0.0))
    return plan


def after_success(outputs: OutputCheck, template: tasks_pb2.TaskTemplate, stale_error: str | None = None) -> ph.PhaseInfo:
    """A succeeded pod is a succeeded task only without error.pb (but the one an earlier run of the attempt left), and
    with outputs.pb when outputs are declared."""
    if outputs.error is not None and not (stale_error and outputs.error_version == stale_error):
        if outputs.recoverable:
            return ph.PhaseInfo(ph.Phase.RETRYABLE_FAILURE, outputs.error.message, outputs.error)
        return ph.PhaseInfo(ph.Phase.PERMANENT_FAILURE, outputs.error.message, outputs.error)
    if not outputs.outputs_found and template.interface.outputs.variables:
        names = ", ".join(sorted(entry.key for entry in template.interface.outputs.variables))
        return ph.retryable(CODE_OUTPUTS_NOT_FOUND, f"the task declares outputs ({names}) but wrote no outputs.pb")
    return ph.PhaseInfo(ph.Phase.SUCCESS)


def retry_or_fail(r: TaskReconcile, info: ph.PhaseInfo) -> Plan:
    """A user failure restarts the task while attempts remain, else it is permanent. System failures count per
    attempt (never reset by a pod that runs again): a pod the platform keeps killing still ends, at
    MaxSystemFailuresExceeded. A new attempt starts the count over."""
    if info.phase is ph.Phase.RETRYABLE_FAILURE:
        error = info.error or ph.ExecError(c.CODE_MAX_RETRIES, c.KIND_USER, f"task failed after {r.attempt} attempt(s)")
        if r.attempt < max_attempts(r.template):
            r.plan.delete_pod = r.pod_name
            plan = r.restart(error)
            plan.requeue(0.0)
            return plan
        info = ph.PhaseInfo(ph.Phase.PERMANENT_FAILURE, error.message, error)
    return r.conclude(info)
