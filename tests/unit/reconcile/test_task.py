"""reconcile_task: the task state machine of docs/upstream-contract.md, on TaskAction and Pod dicts as
the API server returns them, with our documented differences (user-retry errorState/RetryableFailure history,
InvalidSpec errorState, JSON plugin state, ResourceDeletedExternally counting, no re-abort of terminal actions)."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from flyteidl2.core import literals_pb2

from taskaction_operator.api import constants as c
from taskaction_operator.api.decoding import SpecError
from taskaction_operator.api.models import TaskAction
from taskaction_operator.api.times import rfc3339
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.pods.podtemplate import PodTemplateLookup
from taskaction_operator.reconcile import plugin_state
from taskaction_operator.reconcile.lookups import CreateRefused, Lookups
from taskaction_operator.reconcile.plan import FindPodTemplate, ReadInputs
from taskaction_operator.reconcile.task import REQUIRED_TASK_FIELDS, reconcile_task, validate
from taskaction_operator.settings import Settings
from taskaction_operator.storage import paths
from taskaction_operator.storage.inputs import InputsLookup

from ..builders import (
    CREATED,
    INPUT_URI,
    NAMESPACE,
    NOW,
    ROOT_NAME,
    ROOT_OUTPUT_1,
    RUN_BASE,
    World,
    b64,
    cond_tuple,
    failed_pod,
    k8s_pod_template,
    pod,
    container_status,
    pod_condition,
    running_pod,
    spec,
    started_status,
    succeeded_pod,
    task_template,
    taskaction,
    terminated,
    waiting,
)

FIN = c.FINALIZER
TERMINAL_NOW = {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.12-00"}


def started_body(template=None, status: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    return taskaction(spec_=spec(template), finalizers=[FIN], status=status or started_status(), **kwargs)


def env_value(pod_: dict[str, Any], name: str) -> str:
    return next(e["value"] for e in pod_["spec"]["containers"][0]["env"] if e["name"] == name)


def arg_after(pod_: dict[str, Any], flag: str) -> str:
    args = pod_["spec"]["containers"][0]["args"]
    return args[args.index(flag) + 1]


class TestFirstReconcile:
    def test_adds_finalizer_creates_pod_and_reports_queued(self, settings: Settings) -> None:
        body = taskaction()
        plan = reconcile_task(body, None, None, NOW, settings)
        assert plan.metadata_patch == {"finalizers": [FIN]}
        assert plan.create_pod is not None
        assert plan.create_pod["metadata"]["name"] == "rabc123-a0-0"
        template = task_template()
        expected = build_pod(TaskAction.model_validate(body), template, 1, settings)
        expected["metadata"]["annotations"][c.ANNOTATION_LAUNCH] = "1.0"  # attempt 1, no system failure yet
        assert plan.create_pod == expected
        assert plan.delete_pod is None
        patch = plan.status_patch
        assert patch is not None
        assert cond_tuple(patch, "Progressing") == ("True", "Queued", "task submitted to K8s")
        assert patch["conditions"][0]["lastTransitionTime"] == rfc3339(NOW)
        assert patch["attempts"] == 1
        assert patch["systemFailures"] == 0
        assert patch["pluginPhase"] == "PhaseQueued"
        assert [(e["phase"], e.get("message")) for e in patch["phaseHistory"]] == [("Queued", "task submitted to K8s")]
        assert plugin_state.is_started(patch)
        assert patch["pluginStateVersion"] == 2
        assert patch["stateJson"] == '{"actionId":"rabc123/a0","phase":"PhaseQueued","timestamp":"2026-08-08T12:00:00Z"}'
        assert plan.terminal_labels is None
        assert plan.requeue_after == settings.resync_seconds
        assert not plan.remove_finalizer

    def test_keeps_other_finalizers(self, settings: Settings) -> None:
        plan = reconcile_task(taskaction(finalizers=["example.com/keep"]), None, None, NOW, settings)
        assert plan.metadata_patch == {"finalizers": ["example.com/keep", FIN]}

    def test_finalizer_already_there_is_not_patched_again(self, settings: Settings) -> None:
        plan = reconcile_task(taskaction(finalizers=[FIN]), None, None, NOW, settings)
        assert plan.metadata_patch is None
        assert plan.create_pod is not None

    def test_pod_already_there_is_adopted_not_created(self, settings: Settings) -> None:
        """AlreadyExists is success upstream: a pod of the right name seen before our state says started."""
        plan = reconcile_task(taskaction(finalizers=[FIN]), running_pod(), None, NOW, settings)
        assert plan.create_pod is None
        assert plan.status_patch is not None
        assert plugin_state.is_started(plan.status_patch)
        assert cond_tuple(plan.status_patch, "Progressing") == ("True", "Executing", "")


class TestValidation:
    @pytest.mark.parametrize("field", REQUIRED_TASK_FIELDS)
    @pytest.mark.parametrize("how", ["empty", "absent"])
    def test_each_required_field(self, field: str, how: str, settings: Settings) -> None:
        spec_ = spec()
        if how == "empty":
            spec_[field] = ""
        else:
            del spec_[field]
        plan = reconcile_task(taskaction(spec_=spec_), None, None, NOW, settings)
        message = f"required spec fields are empty: [{field}]"
        assert plan.create_pod is None
        assert plan.metadata_patch is None  # no finalizer
        patch = plan.status_patch
        assert patch is not None
        assert cond_tuple(patch, "Failed") == ("True", "InvalidSpec", message)
        assert cond_tuple(patch, "Progressing") == ("False", "InvalidSpec", message)
        assert patch["errorState"] == {"code": "InvalidSpec", "kind": "USER", "message": message}
        assert "phaseHistory" not in patch
        assert plan.terminal_labels == TERMINAL_NOW
        assert plan.requeue_after is None
        assert [(e.type, e.reason) for e in plan.events] == [("Warning", "FailedValidation")]

    def test_several_missing_fields_in_go_slice_format(self, settings: Settings) -> None:
        plan = reconcile_task(taskaction(spec_=spec(taskType="", inputUri="")), None, None, NOW, settings)
        assert cond_tuple(plan.status_patch, "Failed")[2] == "required spec fields are empty: [taskType inputUri]"

    @pytest.mark.parametrize(
        "encoded",
        ["!!! not base64 !!!", b64(b"\xff\xff\xff\xff"), b64(task_template().SerializeToString()[:-3] + b"\x0a")],
        ids=["not-base64", "garbage", "truncated"],
    )
    def test_undecodable_template(self, encoded: str, settings: Settings) -> None:
        plan = reconcile_task(taskaction(spec_=spec(taskTemplate=encoded)), None, None, NOW, settings)
        assert plan.create_pod is None and plan.metadata_patch is None
        status, reason, message = cond_tuple(plan.status_patch, "Failed")
        assert (status, reason) == ("True", "InvalidSpec")
        assert "taskTemplate" in message
        assert plan.status_patch["errorState"]["code"] == "InvalidSpec"

    def test_template_without_a_target(self, settings: Settings) -> None:
        template = task_template()
        template.ClearField("container")
        plan = reconcile_task(taskaction(spec_=spec(template)), None, None, NOW, settings)
        assert plan.create_pod is None
        assert "neither a container nor a k8s_pod" in cond_tuple(plan.status_patch, "Failed")[2]

    def test_schema_limits_are_spec_errors(self, settings: Settings) -> None:
        plan = reconcile_task(taskaction(spec_=spec(runName="r" * 31)), None, None, NOW, settings)
        assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "InvalidSpec")
        assert "spec.runName" in cond_tuple(plan.status_patch, "Failed")[2]

    def test_run_output_base_without_scheme(self, settings: Settings) -> None:
        plan = reconcile_task(taskaction(spec_=spec(runOutputBase="/tmp/output")), None, None, NOW, settings)
        assert plan.create_pod is None
        assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "InvalidSpec")
        assert "runOutputBase" in cond_tuple(plan.status_patch, "Failed")[2]

    def test_invalid_then_terminal_short_circuit(self, settings: Settings) -> None:
        world = World(taskaction(spec_=spec(taskType="")), settings)
        world.reconcile()
        assert world.body["metadata"]["labels"]["flyte.org/termination-status"] == "terminated"
        again = world.reconcile(NOW + timedelta(minutes=1))
        assert (again.status_patch, again.create_pod, again.terminal_labels, again.metadata_patch) == (None, None, None, None)


class TestMonitoring:
    def test_running_pod_is_executing(self, settings: Settings) -> None:
        plan = reconcile_task(started_body(), running_pod(), None, NOW, settings)
        assert plan.create_pod is None and plan.delete_pod is None and plan.metadata_patch is None
        assert cond_tuple(plan.status_patch, "Progressing") == ("True", "Executing", "")
        assert plan.status_patch["pluginPhase"] == "PhaseRunning"
        assert [e["phase"] for e in plan.status_patch["phaseHistory"]] == ["Queued", "Executing"]
        assert "attempts" not in plan.status_patch  # unchanged fields are not sent
        assert plan.requeue_after == settings.resync_seconds

    def test_initializing_pod(self, settings: Settings) -> None:
        pending = pod(
            phase="Pending",
            container_statuses=[container_status("rabc123-a0-0", waiting("ContainerCreating"))],
            conditions=[pod_condition("Ready", "False", "ContainersNotReady", "not ready")],
        )
        plan = reconcile_task(started_body(), pending, None, NOW, settings)
        assert cond_tuple(plan.status_patch, "Progressing")[:2] == ("True", "Initializing")

    def test_unschedulable_pod_stays_queued_with_the_reason(self, settings: Settings) -> None:
        pending = pod(phase="Pending", conditions=[pod_condition("PodScheduled", "False", "Unschedulable", "0/3 nodes")])
        plan = reconcile_task(started_body(), pending, None, NOW, settings)
        assert cond_tuple(plan.status_patch, "Progressing") == ("True", "Queued", "Unschedulable:0/3 nodes")
        assert "phaseHistory" not in plan.status_patch  # Queued after Queued is not appended again

    def test_nothing_new_means_no_write(self, settings: Settings) -> None:
        world = World(started_body(), settings)
        world.pods["rabc123-a0-0"] = running_pod()
        assert world.reconcile().status_patch is not None
        assert world.reconcile(NOW + timedelta(seconds=30)).status_patch is None

    def test_succeeded_pod(self, settings: Settings) -> None:
        later = NOW + timedelta(minutes=7, seconds=30)
        plan = reconcile_task(started_body(), succeeded_pod(), None, later, settings)
        patch = plan.status_patch
        assert cond_tuple(patch, "Succeeded") == ("True", "Completed", "TaskAction completed successfully")
        assert cond_tuple(patch, "Progressing") == ("False", "Completed", "TaskAction has completed")
        assert patch["pluginPhase"] == "PhaseSuccess"
        assert patch["phaseHistory"][-1]["phase"] == "Completed"
        assert plan.terminal_labels == {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.12-07"}
        assert plan.delete_pod is None  # the pod stays until the TaskAction goes
        assert plan.requeue_after is None

    def test_unknown_pod_phase_changes_nothing(self, settings: Settings) -> None:
        plan = reconcile_task(started_body(), pod(phase="Unknown"), None, NOW, settings)
        assert plan.status_patch is None and plan.create_pod is None and plan.delete_pod is None
        assert plan.requeue_after == settings.resync_seconds

    def test_pod_of_another_attempt_is_not_taken_for_the_current_one(self, settings: Settings) -> None:
        status = started_status(attempts=2)
        plugin_state.reset(status)
        plan = reconcile_task(started_body(status=status), failed_pod("rabc123-a0-0"), None, NOW, settings)
        assert plan.create_pod is not None and plan.create_pod["metadata"]["name"] == "rabc123-a0-1"
        assert plan.delete_pod is None


def with_timeout(seconds: int, retries: int = 0):
    template = task_template(retries=retries)
    template.metadata.timeout.seconds = seconds
    return template


class TestTaskTimeout:
    def test_a_running_pod_is_looked_at_again_at_its_deadline(self, settings: Settings) -> None:
        started = running_pod()
        started["status"]["startTime"] = rfc3339(NOW - timedelta(seconds=10))
        plan = reconcile_task(started_body(with_timeout(30)), started, None, NOW, settings)
        assert plan.delete_pod is None and plan.requeue_after == 20.0  # before the resync (60 s)

    def test_past_its_deadline_the_pod_is_deleted_and_the_task_retried(self, settings: Settings) -> None:
        world = World(taskaction(spec_=spec(with_timeout(30, retries=1))), settings)
        world.reconcile()
        world.set_pod(running_pod("rabc123-a0-0"))
        world.pods["rabc123-a0-0"]["metadata"]["creationTimestamp"] = rfc3339(CREATED)
        plan = world.reconcile(NOW)
        assert plan.delete_pod == "rabc123-a0-0" and world.status["attempts"] == 2
        assert world.status["errorState"]["code"] == "TaskTimedOut" and world.status["errorState"]["kind"] == "USER"
        assert "timeout [30s] expired" in world.status["errorState"]["message"]

    def test_past_its_deadline_without_retries_it_fails_and_the_pod_goes(self, settings: Settings) -> None:
        plan = reconcile_task(started_body(with_timeout(30)), running_pod(), None, NOW, settings)
        assert plan.delete_pod == "rabc123-a0-0"
        assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "PermanentFailure")
        assert plan.status_patch["errorState"]["code"] == "TaskTimedOut"

    def test_a_pod_that_ended_in_time_is_not_timed_out(self, settings: Settings) -> None:
        plan = reconcile_task(started_body(with_timeout(30)), failed_pod(exit_code=1), None, NOW, settings)
        assert plan.status_patch["errorState"]["code"] == "Error"


def test_an_attempt_held_by_a_concurrency_limit_stays_queued(settings: Settings) -> None:
    why = "waiting for a free place: 3 pods run in namespace flyte (TASKACTION_MAX_RUNNING_PER_NAMESPACE)"
    plan = reconcile_task(taskaction(), None, None, NOW, settings, start_blocked=why)
    assert plan.create_pod is None and plan.requeue_after == 5.0
    assert cond_tuple(plan.status_patch, "Progressing") == ("True", "Queued", why)
    # Once started, a limit no longer matters: the pod is observed.
    plan = reconcile_task(started_body(), running_pod(), None, NOW, settings, start_blocked=why)
    assert cond_tuple(plan.status_patch, "Progressing")[1] == "Executing"


class TestRetryBackoff:
    def test_each_user_retry_waits_longer_up_to_the_cap(self) -> None:
        settings = Settings(retry_backoff_seconds=10, retry_backoff_max_seconds=15)
        world = World(taskaction(spec_=spec(task_template(retries=3))), settings)
        at = NOW
        for attempt, wait in ((2, 10), (3, 15)):  # 10, then 20 capped at 15
            world.reconcile(at)
            world.set_pod(failed_pod(world.created[-1], exit_code=1))
            world.reconcile(at)  # the failure: attempt `attempt` is due `wait` seconds after it
            assert world.status["attempts"] == attempt
            plan = world.reconcile(at + timedelta(seconds=1))
            assert plan.create_pod is None and plan.requeue_after == wait - 1
            assert cond_tuple(world.status, "Progressing") == ("True", "Queued", f"attempt {attempt} starts in {wait - 1}s (retry backoff)")
            at += timedelta(seconds=wait)
            plan = world.reconcile(at)
            assert plan.create_pod is not None and plan.create_pod["metadata"]["name"] == f"rabc123-a0-{attempt - 1}"

    def test_off_by_default_and_never_after_a_system_failure(self, settings: Settings) -> None:
        world = World(taskaction(spec_=spec(task_template(retries=1))), settings)
        world.reconcile()
        world.set_pod(failed_pod("rabc123-a0-0", exit_code=1))
        world.reconcile()
        assert world.reconcile().create_pod is not None  # retry_backoff_seconds 0: at once
        status = started_status(attempts=2, system_failures=1)
        plugin_state.reset(status)
        status["phaseHistory"] = [{"phase": "RetryableFailure", "occurredAt": rfc3339(NOW)}]
        plan = reconcile_task(started_body(task_template(retries=1), status=status), None, None, NOW, Settings(retry_backoff_seconds=60))
        assert plan.create_pod is not None


class TestUserRetries:
    def test_retries_then_success(self, settings: Settings) -> None:
        world = World(taskaction(spec_=spec(task_template(retries=2))), settings)
        world.reconcile()
        assert world.created == ["rabc123-a0-0"]

        world.set_pod(failed_pod("rabc123-a0-0", exit_code=1, reason="Error"))
        plan = world.reconcile()
        assert plan.delete_pod == "rabc123-a0-0"
        assert plan.create_pod is None
        assert plan.requeue_after == 0.0
        status = world.status
        assert status["attempts"] == 2
        assert status["systemFailures"] == 0
        assert not plugin_state.is_started(status)
        assert cond_tuple(status, "Progressing") == ("True", "Queued", "restarting task")
        assert status["errorState"]["code"] == "Error" and status["errorState"]["kind"] == "USER"
        history = [(e["phase"], e.get("message", "")) for e in status["phaseHistory"]]
        assert history[0] == ("Queued", "task submitted to K8s")
        assert history[1][0] == "RetryableFailure"
        assert history[1][1].startswith("attempt 1: [Error] Pod failed.")
        assert history[2] == ("Queued", "restarting task")

        plan = world.reconcile()
        assert plan.create_pod is not None
        second = plan.create_pod
        assert second["metadata"]["name"] == "rabc123-a0-1"
        assert second["metadata"]["labels"]["attempt"] == "2"
        assert env_value(second, "FLYTE_ATTEMPT_NUMBER") == "1"
        assert arg_after(second, "--outputs-path") == paths.action_output_prefix(NAMESPACE, ROOT_NAME, RUN_BASE, "a0", 2)
        assert world.status["attempts"] == 2
        assert cond_tuple(world.status, "Progressing") == ("True", "Queued", "task submitted to K8s")

        world.set_pod(succeeded_pod("rabc123-a0-1"))
        world.reconcile()
        assert cond_tuple(world.status, "Succeeded")[:2] == ("True", "Completed")
        assert world.status["attempts"] == 2
        assert world.created == ["rabc123-a0-0", "rabc123-a0-1"]
        assert world.deleted == ["rabc123-a0-0"]

    def test_retries_exhausted(self, settings: Settings) -> None:
        world = World(taskaction(spec_=spec(task_template(retries=2))), settings)
        for attempt in (1, 2, 3):
            world.reconcile()
            name = f"rabc123-a0-{attempt - 1}"
            assert world.created[-1] == name
            world.set_pod(failed_pod(name, exit_code=3, reason="Error"))
            plan = world.reconcile()
        status = world.status
        assert status["attempts"] == 3
        assert cond_tuple(status, "Failed")[:2] == ("True", "PermanentFailure")
        assert cond_tuple(status, "Progressing")[:2] == ("False", "PermanentFailure")
        assert status["errorState"]["code"] == "Error"
        assert status["errorState"]["kind"] == "USER"
        assert "[rabc123-a0-2] terminated with exit code (3)" in status["errorState"]["message"]
        assert status["pluginPhase"] == "PhasePermanentFailure"
        assert plan.delete_pod is None
        assert plan.terminal_labels == TERMINAL_NOW
        assert [e["phase"] for e in status["phaseHistory"]].count("RetryableFailure") == 2
        assert world.created == ["rabc123-a0-0", "rabc123-a0-1", "rabc123-a0-2"]

    def test_no_retries_fails_at_once_with_the_pod_error(self, settings: Settings) -> None:
        oom = pod(phase="Failed", container_statuses=[container_status("rabc123-a0-0", terminated(137, "OOMKilled"))])
        plan = reconcile_task(started_body(), oom, None, NOW, settings)
        assert plan.status_patch["errorState"]["code"] == "OOMKilled"
        assert plan.status_patch["errorState"]["kind"] == "USER"
        assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "PermanentFailure")
        assert "attempts" not in plan.status_patch or plan.status_patch["attempts"] == 1

    def test_a_plain_failed_exit_is_a_user_failure_not_a_system_one(self, settings: Settings) -> None:
        """Our documented difference: upstream would count this as SYSTEM Interrupted."""
        plan = reconcile_task(started_body(), failed_pod(exit_code=1, reason="Error"), None, NOW, settings)
        assert plan.status_patch["errorState"]["kind"] == "USER"
        assert plan.status_patch.get("systemFailures", 0) == 0
        assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "PermanentFailure")


class TestSystemFailures:
    def sigkill(self, name: str) -> dict[str, Any]:
        return failed_pod(name, exit_code=137, reason="Error")

    def test_counted_without_consuming_attempts_and_fatal_on_the_fourth(self, settings: Settings) -> None:
        world = World(taskaction(spec_=spec(task_template(retries=5))), settings)
        for failure in (1, 2, 3):
            world.reconcile()
            assert world.created[-1] == "rabc123-a0-0"
            world.set_pod(self.sigkill("rabc123-a0-0"))
            plan = world.reconcile()
            status = world.status
            assert plan.delete_pod == "rabc123-a0-0"
            assert status["systemFailures"] == failure
            assert status["attempts"] == 1
            assert not plugin_state.is_started(status)
            assert status["pluginStateVersion"] == 0
            assert status["errorState"]["code"] == "Interrupted" and status["errorState"]["kind"] == "SYSTEM"
            assert cond_tuple(status, "Progressing")[:2] == ("True", "Queued")
            assert status["phaseHistory"][-2]["phase"] == "RetryableFailure"
            assert status["phaseHistory"][-2]["message"].startswith("[Interrupted] ")
            assert status["phaseHistory"][-1]["phase"] == "Queued"
            assert plan.terminal_labels is None
            assert [e.reason for e in plan.events][0] == "FailedPluginHandle"
        world.reconcile()
        world.set_pod(self.sigkill("rabc123-a0-0"))
        plan = world.reconcile()
        status = world.status
        assert status["systemFailures"] == 4
        assert status["attempts"] == 1
        assert status["errorState"]["code"] == "MaxSystemFailuresExceeded"
        assert status["errorState"]["kind"] == "SYSTEM"
        assert "4 times" in status["errorState"]["message"] and "[Interrupted]" in status["errorState"]["message"]
        assert cond_tuple(status, "Failed")[:2] == ("True", "PermanentFailure")
        assert cond_tuple(status, "Progressing")[:2] == ("False", "PermanentFailure")
        assert plan.terminal_labels == TERMINAL_NOW
        assert world.created == ["rabc123-a0-0"] * 4

    @pytest.mark.parametrize(("configured", "fatal_at"), [(1, 2), (0, 4), (5, 6)])
    def test_limit_from_settings(self, configured: int, fatal_at: int) -> None:
        settings = Settings(max_system_failures=configured)
        body = started_body(status=started_status(system_failures=fatal_at - 2))
        plan = reconcile_task(body, self.sigkill("rabc123-a0-0"), None, NOW, settings)
        assert plan.status_patch["systemFailures"] == fatal_at - 1
        assert plan.terminal_labels is None
        body = started_body(status=started_status(system_failures=fatal_at - 1))
        plan = reconcile_task(body, self.sigkill("rabc123-a0-0"), None, NOW, settings)
        assert plan.status_patch["errorState"]["code"] == "MaxSystemFailuresExceeded"
        assert plan.terminal_labels is not None

    def test_a_pod_running_again_does_not_reset_the_count(self, settings: Settings) -> None:
        """Per attempt, not consecutive (upstream): a pod the platform keeps killing must still end."""
        plan = reconcile_task(started_body(status=started_status(system_failures=2)), running_pod(), None, NOW, settings)
        assert "systemFailures" not in (plan.status_patch or {})

    def test_a_new_attempt_starts_the_count_over(self, settings: Settings) -> None:
        body = started_body(task_template(retries=1), status=started_status(system_failures=2))
        plan = reconcile_task(body, failed_pod(), None, NOW, settings)
        assert (plan.status_patch["attempts"], plan.status_patch["systemFailures"]) == (2, 0)

    def test_pod_missing_while_started_is_resource_deleted_externally(self, settings: Settings) -> None:
        world = World(started_body(), settings)
        plan = world.reconcile()
        status = world.status
        assert plan.create_pod is None
        assert status["errorState"] == {
            "code": "ResourceDeletedExternally",
            "kind": "SYSTEM",
            "message": "resource not found, name [flyte/rabc123-a0-0]",
        }
        assert status["systemFailures"] == 1 and status["attempts"] == 1
        assert not plugin_state.is_started(status)
        assert cond_tuple(status, "Progressing")[:2] == ("True", "Queued")
        assert [e["phase"] for e in status["phaseHistory"]][-2:] == ["RetryableFailure", "Queued"]
        plan = world.reconcile()
        assert plan.create_pod is not None and plan.create_pod["metadata"]["name"] == "rabc123-a0-0"

    def test_old_pod_still_terminating_is_waited_for(self, settings: Settings) -> None:
        status = started_status(system_failures=1)
        plugin_state.reset(status)
        old_pod = running_pod()
        old_pod["metadata"]["deletionTimestamp"] = rfc3339(NOW)
        plan = reconcile_task(started_body(status=status), old_pod, None, NOW, settings)
        assert plan.create_pod is None and plan.delete_pod is None
        assert cond_tuple(plan.status_patch, "Progressing") == (
            "True",
            "Queued",
            "waiting for the previous pod rabc123-a0-0 to terminate",
        )
        assert not plugin_state.is_started({**status, **plan.status_patch})
        assert plan.requeue_after == 1.0

    def test_pod_deleted_under_a_started_action(self, settings: Settings) -> None:
        deleting = running_pod()
        deleting["metadata"]["deletionTimestamp"] = rfc3339(NOW)
        plan = reconcile_task(started_body(), deleting, None, NOW, settings)
        assert plan.delete_pod == "rabc123-a0-0"
        assert plan.status_patch["errorState"]["code"] == "UnexpectedObjectDeletion"
        assert plan.status_patch["errorState"]["kind"] == "SYSTEM"
        assert plan.status_patch["systemFailures"] == 1

    def test_finished_pod_being_deleted_still_counts_as_finished(self, settings: Settings) -> None:
        done = succeeded_pod()
        done["metadata"]["deletionTimestamp"] = rfc3339(NOW)
        plan = reconcile_task(started_body(), done, None, NOW, settings)
        assert cond_tuple(plan.status_patch, "Succeeded")[:2] == ("True", "Completed")


class TestGoPluginState:
    def go_status(self) -> dict[str, Any]:
        return {
            "attempts": 1,
            "pluginPhase": "PhaseRunning",
            "pluginPhaseVersion": 0,
            "pluginState": b64(b"\x3b\xff\x81\x03\x01\x01\x0bPluginState\x01\xff\x82\x00"),  # a Go gob
            "pluginStateVersion": 1,
            "conditions": [
                {"type": "Progressing", "status": "True", "reason": "Executing", "message": "", "lastTransitionTime": rfc3339(CREATED)}
            ],
            "phaseHistory": [{"phase": "Executing", "occurredAt": rfc3339(CREATED)}],
        }

    def test_go_state_is_taken_as_started(self) -> None:
        assert plugin_state.is_started(self.go_status())

    def test_pod_is_adopted_not_recreated(self, settings: Settings) -> None:
        body = started_body(status=self.go_status())
        plan = reconcile_task(body, running_pod(), None, NOW, settings)
        assert plan.create_pod is None and plan.delete_pod is None
        patch = plan.status_patch or {}
        assert "pluginState" not in patch and "pluginStateVersion" not in patch
        assert cond_tuple(body["status"] | patch, "Progressing")[:2] == ("True", "Executing")

    def test_adopted_pod_can_succeed(self, settings: Settings) -> None:
        plan = reconcile_task(started_body(status=self.go_status()), succeeded_pod(), None, NOW, settings)
        assert cond_tuple(plan.status_patch, "Succeeded")[:2] == ("True", "Completed")


class TestPluginState:
    def test_round_trip(self) -> None:
        status: dict[str, Any] = {}
        assert not plugin_state.is_started(status)
        plugin_state.started(status)
        assert plugin_state.is_started(status)
        assert status["pluginStateVersion"] == 2
        assert base64.b64decode(status["pluginState"]) == b'{"phase":"Started"}'
        plugin_state.reset(status)
        assert status == {"pluginState": None, "pluginStateVersion": 0}
        assert not plugin_state.is_started(status)

    @pytest.mark.parametrize("raw", [b64(b"not json"), b64(b"[1,2]"), b64(b'{"phase":"NotStarted"}'), "%%%"])
    def test_unreadable_or_other_state_is_not_started(self, raw: str) -> None:
        assert not plugin_state.is_started({"pluginState": raw, "pluginStateVersion": 2})


class TestDeletion:
    def test_running_action_deletes_its_pod_then_drops_the_finalizer(self, settings: Settings) -> None:
        body = started_body(deleting=True)
        plan = reconcile_task(body, running_pod(), None, NOW, settings)
        assert plan.delete_pod == "rabc123-a0-0"
        assert plan.remove_finalizer
        assert plan.status_patch is None and plan.create_pod is None and plan.metadata_patch is None
        assert [(e.type, e.reason) for e in plan.events] == [("Normal", "Aborted")]

    def test_no_pod_just_drops_the_finalizer(self, settings: Settings) -> None:
        plan = reconcile_task(started_body(deleting=True), None, None, NOW, settings)
        assert plan.remove_finalizer and plan.delete_pod is None

    def test_without_finalizer_nothing_to_do(self, settings: Settings) -> None:
        plan = reconcile_task(taskaction(deleting=True), running_pod(), None, NOW, settings)
        assert not plan.remove_finalizer and plan.delete_pod is None and plan.status_patch is None

    def test_a_finished_action_lets_go_of_its_finalizer_so_its_deletion_needs_nothing(self, settings: Settings) -> None:
        """Nothing is left to abort once it finished: the finalizer goes in the write of the terminal labels, and a
        deletion (the TTL collector's, a namespace's) no longer waits for the operator."""
        world = World(started_body(), settings)
        world.pods["rabc123-a0-0"] = succeeded_pod()
        plan = world.reconcile()
        assert plan.terminal_labels and plan.remove_finalizer
        assert FIN not in world.body["metadata"].get("finalizers", [])
        body = world.body
        body["metadata"]["deletionTimestamp"] = rfc3339(NOW)
        plan = reconcile_task(body, succeeded_pod(), None, NOW, settings)
        assert (plan.remove_finalizer, plan.delete_pod, plan.events, plan.status_patch) == (False, None, [], None)

    def test_a_finished_action_still_holding_its_finalizer_lets_go_of_it(self, settings: Settings) -> None:
        """Finished by an earlier version of the operator (or the Go executor), which kept the finalizer."""
        body = started_body()
        body["status"]["conditions"] = [
            {"type": "Succeeded", "status": "True", "reason": "Completed", "message": "", "lastTransitionTime": rfc3339(NOW)}
        ]
        body["metadata"]["labels"] = {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.12-00"}
        plan = reconcile_task(body, None, None, NOW, settings)
        assert plan.remove_finalizer and plan.terminal_labels is None


class TestTerminal:
    def terminal_body(self, labels: dict[str, str] | None = None) -> dict[str, Any]:
        world = World(started_body(), Settings(read_outputs=False))
        world.pods["rabc123-a0-0"] = succeeded_pod()
        world.reconcile(NOW - timedelta(hours=1))
        body = world.body
        body["metadata"]["labels"] = labels if labels is not None else {}
        return body

    def test_only_labels(self, settings: Settings) -> None:
        plan = reconcile_task(self.terminal_body(), failed_pod(), None, NOW, settings)
        assert plan.terminal_labels == {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.11-00"}
        assert (plan.status_patch, plan.create_pod, plan.delete_pod, plan.metadata_patch) == (None, None, None, None)
        assert plan.requeue_after is None

    def test_labels_present_means_nothing_at_all(self, settings: Settings) -> None:
        body = self.terminal_body({"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.11-00"})
        plan = reconcile_task(body, None, None, NOW, settings)
        assert plan.terminal_labels is None and plan.status_patch is None and plan.create_pod is None


def refused(body: dict[str, Any], http_status: int, message: str, settings: Settings):
    """The decision again, after the API server refused the pod the first one asked for."""
    return reconcile_task(body, None, None, NOW, settings, Lookups(create_refused=CreateRefused(http_status, message)))


class TestCreateErrors:
    """What a refused pod create does to the action (docs/upstream-contract.md, "The task state machine", 3)."""

    def body(self, retries: int = 0) -> dict[str, Any]:
        return taskaction(spec_=spec(task_template(retries=retries)), finalizers=[FIN])

    def test_forbidden_is_a_user_retry(self, settings: Settings) -> None:
        plan = refused(self.body(retries=1), 403, 'pods "x" is forbidden: exceeded quota', settings)
        patch = plan.status_patch
        assert patch["errorState"] == {"code": "RuntimeFailure", "kind": "USER", "message": 'pods "x" is forbidden: exceeded quota'}
        assert patch["attempts"] == 2
        assert cond_tuple(patch, "Progressing") == ("True", "Queued", "restarting task")
        assert patch["phaseHistory"][0] == {
            "phase": "RetryableFailure",
            "occurredAt": rfc3339(NOW),
            "message": 'attempt 1: [RuntimeFailure] pods "x" is forbidden: exceeded quota',
        }
        assert plan.terminal_labels is None
        assert [e.reason for e in plan.events] == ["FailedCreatePod", "RetryableFailure", "Queued"]

    def test_forbidden_without_retries_left_is_permanent(self, settings: Settings) -> None:
        plan = refused(self.body(retries=0), 403, "forbidden", settings)
        assert plan.status_patch["errorState"]["code"] == "RuntimeFailure"
        assert cond_tuple(plan.status_patch, "Failed") == ("True", "PermanentFailure", "forbidden")
        assert plan.terminal_labels == TERMINAL_NOW

    @pytest.mark.parametrize(("http", "code"), [(422, "InvalidResource"), (400, "BadRequest"), (413, "EntityTooLarge")])
    def test_permanent_user_failures(self, http: int, code: str, settings: Settings) -> None:
        plan = refused(self.body(retries=3), http, "admission webhook denied the request", settings)
        patch = plan.status_patch
        assert patch["errorState"] == {"code": code, "kind": "USER", "message": "admission webhook denied the request"}
        assert cond_tuple(patch, "Failed")[:2] == ("True", "PermanentFailure")
        assert patch.get("attempts", 1) == 1
        assert plan.terminal_labels == TERMINAL_NOW

    @pytest.mark.parametrize("http", [500, 503, 0])
    def test_other_errors_are_system_failures(self, http: int, settings: Settings) -> None:
        plan = refused(self.body(retries=3), http, "etcdserver: request timed out", settings)
        patch = plan.status_patch
        assert patch["errorState"]["kind"] == "SYSTEM"
        assert patch["systemFailures"] == 1
        assert patch["attempts"] == 1
        assert cond_tuple(patch, "Progressing")[:2] == ("True", "Queued")
        assert plan.terminal_labels is None

    def test_system_create_failures_are_fatal_past_the_limit(self, settings: Settings) -> None:
        body = taskaction(spec_=spec(), finalizers=[FIN], status={"systemFailures": 3})
        plan = refused(body, 500, "boom", settings)
        assert plan.status_patch["errorState"]["code"] == "MaxSystemFailuresExceeded"
        assert plan.terminal_labels is not None


def test_reference_example_pod_paths(settings: Settings) -> None:
    """The pod of the sample root CR writes to the path of docs/upstream-contract.md, "Output paths"."""
    template = task_template(args=["a0", "--inputs", "{{.input}}", "--outputs-path", "{{.outputPrefix}}"])
    plan = reconcile_task(taskaction(spec_=spec(template)), None, None, NOW, settings)
    assert arg_after(plan.create_pod, "--outputs-path") == ROOT_OUTPUT_1


class TestPodTemplates:
    """The base PodTemplate: by metadata.pod_template_name or the configured default (docs/upstream-contract.md,
    "PodTemplates")."""

    def named(self, name: str) -> dict[str, Any]:
        template = task_template()
        template.metadata.pod_template_name = name
        return taskaction(spec_=spec(template))

    def test_a_named_template_is_asked_for_first(self, settings: Settings) -> None:
        plan = reconcile_task(self.named("gpu"), None, None, NOW, settings)
        assert plan.lookup == FindPodTemplate("gpu")
        assert plan.create_pod is None and plan.status_patch is None

    def test_the_pod_is_built_on_the_template(self, settings: Settings) -> None:
        base = {"template": {"spec": {"tolerations": [{"key": "gpu", "operator": "Exists"}], "containers": []}}}
        plan = reconcile_task(self.named("gpu"), None, None, NOW, settings, lookups=Lookups(pod_template=PodTemplateLookup("gpu", base)))
        assert plan.create_pod["spec"]["tolerations"] == [{"key": "gpu", "operator": "Exists"}]

    def test_a_named_template_that_does_not_exist_fails_the_action(self, settings: Settings) -> None:
        plan = reconcile_task(self.named("gpu"), None, None, NOW, settings, lookups=Lookups(pod_template=PodTemplateLookup("gpu", None)))
        assert plan.create_pod is None
        assert plan.status_patch["errorState"] == {"code": "BadTaskSpecification", "kind": "USER", "message": "PodTemplate 'gpu' does not exist"}

    def test_a_missing_default_template_is_no_template(self) -> None:
        settings = Settings(read_outputs=False, default_pod_template_name="base")
        assert reconcile_task(taskaction(), None, None, NOW, settings).lookup == FindPodTemplate("base")
        plan = reconcile_task(taskaction(), None, None, NOW, settings, lookups=Lookups(pod_template=PodTemplateLookup("base", None)))
        assert plan.create_pod is not None


class TestInputVariables:
    """A raw container's {{.Inputs.x}} needs inputs.pb: the plan asks for it before it makes the pod."""

    def body(self) -> dict[str, Any]:
        return taskaction(spec_=spec(task_template(args=["echo", "{{.Inputs.n}}", "{{.Inputs.name}}"])))

    @staticmethod
    def literal(**value: object) -> literals_pb2.Literal:
        return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**value)))

    def test_inputs_are_asked_for_at_the_input_prefix(self, settings: Settings) -> None:
        plan = reconcile_task(self.body(), None, None, NOW, settings)
        assert plan.lookup == ReadInputs(f"{paths.input_prefix(INPUT_URI)}/inputs.pb")
        assert plan.create_pod is None and plan.status_patch is None

    def test_the_pod_gets_the_rendered_values(self, settings: Settings) -> None:
        inputs = InputsLookup(literals={"n": self.literal(integer=5), "name": self.literal(string_value="ada")})
        plan = reconcile_task(self.body(), None, None, NOW, settings, lookups=Lookups(inputs=inputs))
        assert plan.create_pod["spec"]["containers"][0]["args"] == ["echo", "5", "ada"]

    def test_a_missing_input_is_a_bad_task_specification(self, settings: Settings) -> None:
        plan = reconcile_task(self.body(), None, None, NOW, settings, lookups=Lookups(inputs=InputsLookup(literals={"n": self.literal(integer=5)})))
        assert plan.create_pod is None
        assert plan.status_patch["errorState"] == {"code": "BadTaskSpecification", "kind": "USER", "message": "requested input is not found [name]"}

    def test_unreadable_inputs_are_asked_again_without_counting_a_system_failure(self, settings: Settings) -> None:
        plan = reconcile_task(self.body(), None, None, NOW, settings, lookups=Lookups(inputs=InputsLookup(error="connection refused")))
        assert plan.create_pod is None
        assert "systemFailures" not in plan.status_patch and plan.status_patch["errorState"]["code"] == "InputsReadFailed"
        assert plan.requeue_after == 10.0


def test_a_pending_pod_without_news_is_not_worth_a_status_write(settings: Settings) -> None:
    """`Scheduling` (a pending pod with no condition yet) says nothing an action already Queued does not say."""
    world = World(taskaction(), settings)
    made = world.reconcile()
    assert made.create_pod is not None  # Queued, "task submitted to K8s"
    world.set_pod(pod(world.current_pod_name(), phase="Pending"))
    plan = world.reconcile()
    assert plan.status_patch is None
    assert cond_tuple(world.body, "Progressing") == ("True", "Queued", "task submitted to K8s")


def test_a_run_output_base_without_a_scheme_is_an_invalid_spec(settings: Settings) -> None:
    """Upstream cannot build the task's context from it and requeues for ever."""
    plan = reconcile_task(taskaction(spec_=spec(runOutputBase="bucket/run/")), None, None, NOW, settings)
    assert plan.create_pod is None
    assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "InvalidSpec")
    assert "runOutputBase 'bucket/run/' is not a URL with a scheme" in plan.status_patch["errorState"]["message"]


class TestTaskTypes:
    """Types upstream runs with a plugin of their own fail as upstream fails a type no plugin takes (PluginNotFound);
    every other type runs as a pod, as upstream's default plugin runs it."""

    @pytest.mark.parametrize("task_type", ["spark", "ray", "dask", "pytorch", "tensorflow", "mpi", "clustered-task", "core-sleep"])
    def test_a_plugin_task_type_is_plugin_not_found(self, task_type: str, settings: Settings) -> None:
        plan = reconcile_task(taskaction(spec_=spec(task_template(task_type=task_type), taskType=task_type)), None, None, NOW, settings)
        assert plan.create_pod is None and plan.metadata_patch is None
        status, reason, message = cond_tuple(plan.status_patch, "Failed")
        assert (status, reason) == ("True", "PluginNotFound")
        assert message.startswith(f'no plugin found for task type "{task_type}": it needs the ')
        assert cond_tuple(plan.status_patch, "Progressing")[:2] == ("False", "PluginNotFound")
        assert plan.status_patch["errorState"] == {"code": "PluginNotFound", "kind": "USER", "message": message}
        assert "phaseHistory" not in plan.status_patch
        assert [e.reason for e in plan.events] == ["FailedPluginResolve"]

    @pytest.mark.parametrize("task_type", ["python", "container", "raw-container", "sidecar", "sandboxed-python", "my-own-type"])
    def test_other_types_run_as_pods(self, task_type: str, settings: Settings) -> None:
        plan = reconcile_task(taskaction(spec_=spec(task_template(task_type=task_type), taskType=task_type)), None, None, NOW, settings)
        assert plan.create_pod is not None


class TestExtendedResourcesRefused:
    def test_shared_memory_without_a_mount_path_is_a_bad_task_specification(self, settings: Settings) -> None:
        template = task_template()
        template.extended_resources.shared_memory.mount_name = "flyte-shm"
        template.extended_resources.shared_memory.mount_path = ""
        plan = reconcile_task(taskaction(spec_=spec(template)), None, None, NOW, settings)
        assert plan.create_pod is None
        assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "PermanentFailure")
        assert plan.status_patch["errorState"] == {"code": "BadTaskSpecification", "kind": "USER", "message": "mount path is not set"}


class TestStorageSchemes:
    """The operator reads storage for a TaskAction only through TASKACTION_STORAGE_SCHEMES: never file:// or http://."""

    def test_a_run_output_base_of_another_scheme_is_an_invalid_spec(self, settings: Settings) -> None:
        plan = reconcile_task(taskaction(spec_=spec(runOutputBase="file://host/etc/")), None, None, NOW, settings)
        assert plan.create_pod is None and plan.lookup is None
        assert plan.status_patch["errorState"]["message"] == "runOutputBase uses the scheme 'file': the operator reads storage through s3, gs, abfs, abfss only"

    def test_an_input_uri_of_another_scheme_is_never_read(self, settings: Settings) -> None:
        template = task_template(args=["echo", "{{.Inputs.n}}"])
        plan = reconcile_task(taskaction(spec_=spec(template, inputUri="http://169.254.169.254/latest/")), None, None, NOW, settings)
        assert plan.create_pod is None and plan.lookup is None
        assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "InvalidSpec")
        assert plan.status_patch["errorState"]["message"].startswith("inputUri uses the scheme 'http'")

    def test_an_input_uri_the_operator_does_not_read_is_the_pods_business(self, settings: Settings) -> None:
        plan = reconcile_task(taskaction(spec_=spec(inputUri="file:///data/inputs")), None, None, NOW, settings)
        assert plan.create_pod is not None


class TestPodPolicy:
    """The pod policy (pods/policy.py) on the pod about to be created: a refused pod is never created."""

    POD_SPEC = {"hostNetwork": True, "containers": [{"name": "primary", "image": "python:3.11"}]}

    def test_a_refused_pod_fails_the_action_naming_the_rule_and_the_field(self, settings: Settings) -> None:
        body = taskaction(spec_=spec(k8s_pod_template(self.POD_SPEC)), finalizers=[FIN])
        plan = reconcile_task(body, None, None, NOW, settings)
        assert plan.create_pod is None
        message = "the pod policy (level baseline) refuses the pod: hostNamespaces: spec.hostNetwork is true, allowed: false or unset"
        assert plan.status_patch["errorState"] == {"code": "PodPolicyViolation", "kind": "USER", "message": message}
        assert cond_tuple(plan.status_patch, "Failed") == ("True", "PermanentFailure", message)
        assert ("Warning", "PodPolicyViolation") in [(e.type, e.reason) for e in plan.events]
        assert plan.terminal_labels is not None

    def test_the_level_that_allows_it_creates_it(self, settings: Settings) -> None:
        body = taskaction(spec_=spec(k8s_pod_template(self.POD_SPEC)), finalizers=[FIN])
        plan = reconcile_task(body, None, None, NOW, settings.model_copy(update={"pod_security_level": "privileged"}))
        assert plan.create_pod is not None and plan.create_pod["spec"]["hostNetwork"] is True


def test_a_spec_checked_once_still_decides_with_the_latest_metadata_and_status() -> None:
    """validate remembers a valid spec and its template; what it returns otherwise comes from the body at hand, and a
    status the model refuses is refused with the same message as the first time."""
    first = taskaction(spec_=spec(), labels={"team": "a"})
    ta, template = validate(first)
    again = taskaction(spec_=spec(), labels={"team": "b"})
    ta_again, template_again = validate(again)
    assert template_again is template
    assert ta_again.spec == ta.spec and ta_again.metadata["labels"]["team"] == "b"
    bad_status = {"conditions": [{"type": "Progressing", "status": "Maybe", "reason": "Queued", "message": "", "lastTransitionTime": rfc3339(NOW)}]}
    fresh = taskaction(spec_=spec(shortName="never-seen"), status=bad_status)
    with pytest.raises(SpecError) as uncached:
        validate(fresh)
    with pytest.raises(SpecError) as cached:
        validate(taskaction(spec_=spec(), status=bad_status))
    assert str(cached.value) == str(uncached.value) and "status" in str(cached.value)
