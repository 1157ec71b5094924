"""A succeeded pod is a succeeded task only once storage says so: error.pb first, then outputs.pb (Flyte
plugin_manager.go checkResourcePhase). The shell reads storage when the plan asks (`ReadOutputs`) and decides again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flyteidl2.core import interface_pb2, types_pb2

from taskaction_operator.reconcile import plugin_state
from taskaction_operator.reconcile.task import reconcile_task
from taskaction_operator.api.phase import ExecError
from taskaction_operator.settings import Settings
from taskaction_operator.storage import paths
from taskaction_operator.api.times import rfc3339
from taskaction_operator.reconcile.lookups import Lookups
from taskaction_operator.reconcile.plan import ReadOutputs
from taskaction_operator.storage.outputs import OutputCheck
from tests.unit.builders import NOW, ROOT_NAME, cond_tuple, spec, started_status, succeeded_pod, task_template, taskaction


@pytest.fixture
def reading() -> Settings:
    return Settings(read_outputs=True)


def started(template=None, attempts: int = 1) -> dict:
    body = taskaction(spec_=spec(template) if template is not None else None, finalizers=["flyte.org/plugin-finalizer"])
    body["status"] = started_status(attempts=attempts)
    return body


def test_a_succeeded_pod_asks_for_the_outputs_of_its_exact_prefix(reading: Settings) -> None:
    body = started()
    plan = reconcile_task(body, succeeded_pod(), None, NOW, reading)
    meta, s = body["metadata"], body["spec"]
    assert plan.lookup == ReadOutputs(paths.action_output_prefix(meta["namespace"], meta["name"], s["runOutputBase"], s["actionName"], 1))
    assert plan.status_patch is None and plan.create_pod is None and plan.delete_pod is None


def test_no_error_file_is_success(reading: Settings) -> None:
    plan = reconcile_task(started(), succeeded_pod(), None, NOW, reading, Lookups(outputs=OutputCheck(outputs_found=True)))
    assert cond_tuple(plan.status_patch, "Succeeded")[:2] == ("True", "Completed")


def test_an_unrecoverable_error_file_fails_the_action_with_its_error(reading: Settings) -> None:
    error = ExecError("ValueError", "USER", "exploded on 5")
    plan = reconcile_task(started(), succeeded_pod(), None, NOW, reading, Lookups(outputs=OutputCheck(error=error)))
    assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "PermanentFailure")
    assert plan.status_patch["errorState"] == {"code": "ValueError", "kind": "USER", "message": "exploded on 5"}


def test_a_recoverable_error_file_uses_a_retry_when_one_is_left(reading: Settings) -> None:
    error = ExecError("ValueError", "USER", "flaky")
    plan = reconcile_task(started(task_template(retries=1)), succeeded_pod(), None, NOW, reading, Lookups(outputs=OutputCheck(error=error, recoverable=True)))
    assert plan.status_patch["attempts"] == 2
    assert plan.delete_pod == f"{ROOT_NAME}-0"
    assert cond_tuple(plan.status_patch, "Progressing")[1] == "Queued"


def test_declared_outputs_missing_is_a_user_failure(reading: Settings) -> None:
    template = task_template()
    template.interface.outputs.variables.add(key="o0", value=interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.INTEGER)))
    plan = reconcile_task(started(template), succeeded_pod(), None, NOW, reading, Lookups(outputs=OutputCheck(outputs_found=False)))
    assert plan.status_patch["errorState"]["code"] == "OutputsNotFound"
    assert "o0" in plan.status_patch["errorState"]["message"]


def test_no_declared_outputs_and_no_file_is_success(reading: Settings) -> None:
    plan = reconcile_task(started(), succeeded_pod(), None, NOW, reading, Lookups(outputs=OutputCheck(outputs_found=False)))
    assert cond_tuple(plan.status_patch, "Succeeded")[:2] == ("True", "Completed")


def ended(seconds_ago: float) -> dict:
    pod = succeeded_pod()
    for cs in pod["status"].get("containerStatuses") or []:
        cs["state"]["terminated"]["finishedAt"] = rfc3339(NOW - timedelta(seconds=seconds_ago))
    return pod


def test_a_store_that_cannot_be_read_is_asked_again_without_counting_a_system_failure(reading: Settings) -> None:
    """A minute's S3 outage must not fail the actions that end meanwhile: nothing is re-run, the pod is kept."""
    body = started()
    plan = reconcile_task(body, ended(60), None, NOW, reading, Lookups(outputs=OutputCheck(storage_error="connection refused")))
    assert plan.delete_pod is None and plan.create_pod is None
    assert "systemFailures" not in plan.status_patch
    assert plan.status_patch["errorState"]["code"] == "OutputsReadFailed"
    assert plugin_state.is_started({**body["status"], **plan.status_patch})
    assert plan.requeue_after == 10.0


def test_a_store_unreadable_past_the_wait_fails_the_action(reading: Settings) -> None:
    body = started()
    plan = reconcile_task(body, ended(reading.storage_wait_seconds), None, NOW, reading, Lookups(outputs=OutputCheck(storage_error="403 Forbidden")))
    assert plan.status_patch["errorState"]["code"] == "OutputsReadFailed"
    assert plan.status_patch["errorState"]["kind"] == "SYSTEM"
    assert "403 Forbidden" in plan.status_patch["errorState"]["message"]
    assert cond_tuple(plan.status_patch, "Failed")[0] == "True"


def test_reading_disabled_trusts_the_pod(settings: Settings) -> None:
    plan = reconcile_task(started(), succeeded_pod(), None, NOW, settings)
    assert plan.lookup is None
    assert cond_tuple(plan.status_patch, "Succeeded")[:2] == ("True", "Completed")


def test_a_recoverable_system_error_file_is_a_system_failure_not_a_user_retry(reading: Settings) -> None:
    """flyteplugins hands it back as a SYSTEM retryable failure; reconcileTask charges it to the system budget and runs
    the same attempt again (the task's own retries stay untouched: retries=0 here, and the attempt is not consumed)."""
    error = ExecError("IOError", "SYSTEM", "could not download inputs")
    plan = reconcile_task(started(), succeeded_pod(), None, NOW, reading, Lookups(outputs=OutputCheck(error=error, recoverable=True)))
    assert plan.status_patch["systemFailures"] == 1
    assert "attempts" not in plan.status_patch or plan.status_patch["attempts"] == 1
    assert plan.delete_pod == f"{ROOT_NAME}-0"
    assert cond_tuple(plan.status_patch, "Progressing")[1] == "Queued"
    assert plan.status_patch["errorState"] == {"code": "IOError", "kind": "SYSTEM", "message": "could not download inputs"}
    assert cond_tuple(plan.status_patch, "Failed") is None


def test_a_recoverable_system_error_file_past_the_budget_is_max_system_failures(reading: Settings) -> None:
    body = started()
    body["status"]["systemFailures"] = 3
    error = ExecError("IOError", "SYSTEM", "could not download inputs")
    plan = reconcile_task(body, succeeded_pod(), None, NOW, reading, Lookups(outputs=OutputCheck(error=error, recoverable=True)))
    assert plan.status_patch["errorState"]["code"] == "MaxSystemFailuresExceeded"
    assert cond_tuple(plan.status_patch, "Failed")[0] == "True"


def test_a_non_recoverable_system_error_file_fails_the_action_at_once(reading: Settings) -> None:
    """PermanentFailure with the file's error, kind SYSTEM; no system failure counted (upstream: the same)."""
    error = ExecError("BadCode", "SYSTEM", "cannot go on")
    plan = reconcile_task(started(task_template(retries=2)), succeeded_pod(), None, NOW, reading, Lookups(outputs=OutputCheck(error=error)))
    assert cond_tuple(plan.status_patch, "Failed")[:2] == ("True", "PermanentFailure")
    assert plan.status_patch["errorState"] == {"code": "BadCode", "kind": "SYSTEM", "message": "cannot go on"}
    assert "systemFailures" not in plan.status_patch


def test_the_error_file_of_the_run_before_a_system_restart_is_not_the_next_runs(reading: Settings) -> None:
    """The SDK does not remove an error.pb when a later run of the same attempt (same output prefix) succeeds: the
    restart remembers which error.pb it was, and the next run's success is a success (upstream reads it again and
    restarts for ever)."""
    error = ExecError("IOError", "SYSTEM", "could not download inputs")
    first = OutputCheck(error=error, recoverable=True, error_version='"etag-1"|2026-08-08 12:00:00+00:00')
    body = started()
    plan = reconcile_task(body, succeeded_pod(), None, NOW, reading, Lookups(outputs=first))
    assert plan.status_patch["systemFailures"] == 1
    body["status"].update(plan.status_patch)
    assert not plugin_state.is_started(body["status"])
    plugin_state.started(body["status"])  # the next run's pod was made
    assert plugin_state.stale_error(body["status"]) == first.error_version

    again = OutputCheck(error=error, recoverable=True, outputs_found=True, error_version=first.error_version)
    plan = reconcile_task(body, succeeded_pod(), None, NOW, reading, Lookups(outputs=again))
    assert cond_tuple(plan.status_patch, "Succeeded")[:2] == ("True", "Completed")

    rewritten = OutputCheck(error=error, recoverable=True, outputs_found=True, error_version='"etag-1"|2026-08-08 12:00:09+00:00')
    plan = reconcile_task(body, succeeded_pod(), None, NOW, reading, Lookups(outputs=rewritten))
    assert plan.status_patch["systemFailures"] == 2


def test_a_user_retry_forgets_the_stale_error_file(reading: Settings) -> None:
    """A new attempt writes under a prefix of its own."""
    body = started(task_template(retries=1))
    plugin_state.reset(body["status"], "v1")
    plugin_state.started(body["status"])
    error = ExecError("ValueError", "USER", "flaky")
    plan = reconcile_task(body, succeeded_pod(), None, NOW, reading, Lookups(outputs=OutputCheck(error=error, recoverable=True)))
    assert plan.status_patch["attempts"] == 2
    assert plugin_state.stale_error({**body["status"], **plan.status_patch}) is None


def test_the_stale_error_file_is_remembered_through_another_system_failure(reading: Settings) -> None:
    body = started()
    plugin_state.reset(body["status"], "v1")
    plugin_state.started(body["status"])
    plan = reconcile_task(body, None, None, NOW, reading)  # the pod is gone: ResourceDeletedExternally
    assert plan.status_patch["errorState"]["code"] == "ResourceDeletedExternally"
    assert plugin_state.stale_error({**body["status"], **plan.status_patch}) == "v1"
