"""The ActionEvents a TaskAction calls for: exactly the fields upstream's buildActionEvent sets, one event per phase
history entry, attempts counted from the in-place restarts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flyteidl2.common import identifier_pb2
from flyteidl2.common import phase_pb2 as p
from flyteidl2.core import catalog_pb2, execution_pb2
from flyteidl2.workflow import run_definition_pb2
from hypothesis import given
from hypothesis import strategies as st

from taskaction_operator.api.times import rfc3339
from taskaction_operator.api import constants as c
from taskaction_operator.reporting import action_events as ae
from tests.unit import builders as b

Q, I, R, S, F, A = (
    p.ACTION_PHASE_QUEUED,
    p.ACTION_PHASE_INITIALIZING,
    p.ACTION_PHASE_RUNNING,
    p.ACTION_PHASE_SUCCEEDED,
    p.ACTION_PHASE_FAILED,
    p.ACTION_PHASE_ABORTED,
)
OUTPUT_2 = "s3://flyte-data/oc/flytesnacks/development/rabc123/a0/2"
K8S_LINK = "http://localhost:30082/#!/log/flyte/{pod}/pod?namespace=flyte"


def entry(phase: str, message: str = "", seconds: int = 0) -> dict[str, Any]:
    out = {"phase": phase, "occurredAt": rfc3339(b.NOW + timedelta(seconds=seconds))}
    if message:
        out["message"] = message
    return out


def body(*history: dict[str, Any], attempts: int = 1, error: dict[str, str] | None = None, terminal: str | None = None, **kw: Any) -> dict[str, Any]:
    status = b.started_status(attempts=attempts)
    status["phaseHistory"] = list(history)
    if error is not None:
        status["errorState"] = error
    if terminal:
        status["conditions"] = [{"type": terminal, "status": "True", "reason": "x", "message": "", "lastTransitionTime": rfc3339(b.NOW)}]
    return b.taskaction(status=status, finalizers=[c.FINALIZER], **kw)


def events(obj: dict[str, Any], pods: dict[int, dict[str, Any]] | None = None) -> list[run_definition_pb2.ActionEvent]:
    return ae.action_events(obj, ae.Reporting(cluster="c1"), lambda attempt: (pods or {}).get(attempt), b.NOW)


def shape(obj: dict[str, Any]) -> list[tuple[int, int, int]]:
    return [(e.attempt, e.phase, e.version) for e in events(obj)]


SUCCESS = (entry(c.REASON_QUEUED, "task submitted to K8s"), entry(c.REASON_EXECUTING, seconds=1), entry(c.REASON_COMPLETED, "TaskAction completed successfully", 3))


def test_a_success_is_queued_running_succeeded_exactly_as_upstream_builds_them() -> None:
    pod = b.succeeded_pod()
    got = events(body(*SUCCESS), {1: pod})
    action = identifier_pb2.ActionIdentifier(run=identifier_pb2.RunIdentifier(project="flytesnacks", domain="development", name=b.RUN), name="a0")
    outputs = {"output_uri": f"{b.ROOT_OUTPUT_1}/outputs.pb", "report_uri": f"{b.ROOT_OUTPUT_1}/report.html"}
    logs = [execution_pb2.TaskLog(uri=K8S_LINK.format(pod=b.ROOT_NAME + "-0"), name="Kubernetes Logs", message_format=execution_pb2.TaskLog.JSON, ready=True)]
    context = execution_pb2.LogContext(
        primary_pod_name=b.ROOT_NAME + "-0",
        pods=[
            execution_pb2.PodLogContext(
                namespace=b.NAMESPACE,
                pod_name=b.ROOT_NAME + "-0",
                primary_container_name=b.ROOT_NAME + "-0",
                containers=[
                    execution_pb2.ContainerContext(
                        container_name=b.ROOT_NAME + "-0",
                        process={"container_start_time": {"seconds": int(b.CREATED.timestamp())}, "container_end_time": {"seconds": int(b.NOW.timestamp())}},
                    )
                ],
            )
        ],
    )

    def expected(phase: int, version: int, seconds: int, i: int, **fields: Any) -> run_definition_pb2.ActionEvent:
        updated = {"seconds": int(b.NOW.timestamp()) + seconds}
        return run_definition_pb2.ActionEvent(
            id=action, attempt=1, phase=phase, version=version, updated_time=updated, reported_time={"seconds": int(b.NOW.timestamp()), "nanos": 1000 * i},
            cluster="c1", outputs=outputs, **fields,
        )

    assert got == [
        expected(Q, 0, 0, 0, cluster_events=[{"message": "task submitted to K8s", "occurred_at": {"seconds": int(b.NOW.timestamp())}}]),
        expected(R, 1, 1, 1, log_info=logs, log_context=context),
        expected(S, 0, 3, 2, log_info=logs, log_context=context),
    ]


def restarted(failure: str, requeued: str, last: dict[str, Any]) -> list[dict[str, Any]]:
    """A history that ran, failed retryably with `failure`, was queued again with `requeued`, ran, and ended."""
    return [
        entry(c.REASON_QUEUED, "task submitted to K8s"),
        entry(c.REASON_EXECUTING),
        entry(c.REASON_RETRYABLE_FAILURE, failure),
        entry(c.REASON_QUEUED, requeued),
        entry(c.REASON_EXECUTING),
        last,
    ]


def test_a_user_failure_retried_reports_each_attempt_and_its_error() -> None:
    obj = body(
        *restarted("attempt 1: [Error] boom", "restarting task", entry(c.REASON_PERMANENT_FAILURE, "boom again")),
        attempts=2,
        error={"code": "Error", "kind": "USER", "message": "boom again"},
        terminal=c.CONDITION_FAILED,
    )
    got = events(obj)
    assert [(e.attempt, e.phase, e.version) for e in got] == [(1, Q, 0), (1, R, 1), (1, F, 0), (2, Q, 0), (2, R, 1), (2, F, 0)]
    assert got[2].error_info == run_definition_pb2.ErrorInfo(message="boom", kind=run_definition_pb2.ErrorInfo.KIND_USER)
    assert got[5].error_info == run_definition_pb2.ErrorInfo(message="boom again", kind=run_definition_pb2.ErrorInfo.KIND_USER)
    assert [len(e.cluster_events) for e in got] == [1, 0, 0, 1, 0, 0]  # an outcome is in error_info, not a cluster event
    assert got[3].outputs.output_uri == f"{OUTPUT_2}/outputs.pb"
    assert got[4].log_info[0].uri == K8S_LINK.format(pod=b.ROOT_NAME + "-1")


def test_a_system_failure_restarts_the_attempt_unreported_and_its_second_queued_has_version_1() -> None:
    obj = body(
        *restarted(
            "[UnexpectedObjectDeletion] object terminated unexpectedly",
            "system failure 1/3, restarting attempt",
            entry(c.REASON_COMPLETED, "TaskAction completed successfully"),
        )
    )
    assert shape(obj) == [(1, Q, 0), (1, R, 1), (1, Q, 1), (1, R, 2), (1, S, 0)]


def test_the_fatal_system_failure_carries_the_system_kind_and_no_logs() -> None:
    error = {"code": c.CODE_MAX_SYSTEM_FAILURES, "kind": "SYSTEM", "message": "failed 4 times"}
    obj = body(entry(c.REASON_QUEUED), entry(c.REASON_EXECUTING), entry(c.REASON_PERMANENT_FAILURE, "failed 4 times"), error=error)
    running, last = events(obj)[1:]
    assert last.error_info == run_definition_pb2.ErrorInfo(message="failed 4 times", kind=run_definition_pb2.ErrorInfo.KIND_SYSTEM)
    assert running.log_info and not last.log_info and not last.HasField("log_context")  # as upstream's finalizePermanentFailure


def test_a_failure_before_the_pod_had_containers_has_no_logs() -> None:
    error = {"code": "InvalidResource", "kind": "USER", "message": "refused"}
    last = events(body(entry(c.REASON_QUEUED), entry(c.REASON_PERMANENT_FAILURE, "refused"), error=error))[-1]
    assert last.error_info.kind == run_definition_pb2.ErrorInfo.KIND_USER
    assert not last.log_info and not last.HasField("log_context")


def test_deleting_a_running_action_adds_aborted_at_its_deletion_time() -> None:
    obj = body(*SUCCESS[:2], attempts=1, deleting=True)
    got = events(obj)
    assert [(e.attempt, e.phase, e.version) for e in got] == [(1, Q, 0), (1, R, 1), (1, A, 0)]
    aborted = got[-1]
    assert aborted.updated_time.ToDatetime().replace(tzinfo=b.NOW.tzinfo) == b.NOW
    assert [ce.message for ce in aborted.cluster_events] == ["aborted"]
    assert not aborted.log_info and not aborted.HasField("log_context")


def test_deleting_a_finished_action_is_not_an_abort() -> None:
    assert shape(body(*SUCCESS, terminal=c.CONDITION_SUCCEEDED, deleting=True)) == [(1, Q, 0), (1, R, 1), (1, S, 0)]


def test_deleting_without_our_finalizer_is_not_reported() -> None:
    obj = body(*SUCCESS[:2], deleting=True)
    obj["metadata"]["finalizers"] = []
    assert shape(obj) == [(1, Q, 0), (1, R, 1)]


def test_conditions_and_invalid_specs_send_nothing() -> None:
    paused = b.condition_taskaction(condition_spec=b.encode(b.condition_action()), status={"phaseHistory": [entry(c.REASON_PAUSED), entry(c.REASON_SIGNALED)]})
    assert ae.action_events(paused, ae.Reporting(), lambda _: None, b.NOW) == []
    assert shape(body()) == []  # validation failures write no phase history


def test_no_outputs_without_a_usable_run_output_base() -> None:
    obj = body(*SUCCESS, spec_=b.spec(runOutputBase="no-scheme/path"))
    assert not any(e.HasField("outputs") for e in events(obj))


def test_events_from_an_offset_keep_their_versions() -> None:
    obj = body(*SUCCESS)
    assert [(e.phase, e.version) for e in ae.action_events(obj, ae.Reporting(), lambda _: None, b.NOW, start=1)] == [(R, 1), (S, 0)]
    assert ae.count(obj) == 3


def test_the_cache_status_is_the_stored_one() -> None:
    obj = body(*SUCCESS)
    obj["status"]["cacheStatus"] = 2
    assert {e.cache_status for e in events(obj)} == {2}


# Attempt counting over any mix of user retries and system restarts ------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
    """A phase history the reconciler can write, and the (attempt, phase) of the events it calls for."""
    history, expected, attempt = [entry(c.REASON_QUEUED, "task submitted to K8s")], [(1, Q)], 1
    for step in draw(st.lists(st.sampled_from(["run", "user", "system"]), max_size=12)):
        if step == "run":
            if history[-1]["phase"] != c.REASON_EXECUTING:
                history.append(entry(c.REASON_EXECUTING))
                expected.append((attempt, R))
        elif step == "user":
            history += [entry(c.REASON_RETRYABLE_FAILURE, f"attempt {attempt}: [Error] x"), entry(c.REASON_QUEUED, "restarting task")]
            expected += [(attempt, F), (attempt + 1, Q)]
            attempt += 1
        else:
            history += [entry(c.REASON_RETRYABLE_FAILURE, "[Interrupted] x"), entry(c.REASON_QUEUED, "system failure")]
            expected.append((attempt, Q))
    return history, expected


@given(histories())
def test_attempts_count_the_user_restarts_and_versions_keep_every_event_apart(case: tuple[list[dict[str, Any]], list[tuple[int, int]]]) -> None:
    history, expected = case
    got = events(body(*history))
    assert [(e.attempt, e.phase) for e in got] == expected
    assert len({(e.attempt, e.phase, e.version) for e in got}) == len(got)  # the server's dedupe drops none of them
    assert [e.reported_time.ToNanoseconds() for e in got] == sorted({e.reported_time.ToNanoseconds() for e in got})


def test_a_cache_hit_is_one_succeeded_event_with_its_cache_status_and_outputs() -> None:
    """No pod ran: upstream's short-circuit reports the success alone, CACHE_HIT, the copied outputs under the attempt."""
    hit = body(entry(c.REASON_COMPLETED, "TaskAction completed successfully"), terminal=c.CONDITION_SUCCEEDED)
    hit["status"]["cacheStatus"] = catalog_pb2.CACHE_HIT
    (event,) = events(hit)
    assert (event.phase, event.cache_status, event.outputs.output_uri) == (S, catalog_pb2.CACHE_HIT, f"{b.ROOT_OUTPUT_1}/outputs.pb")
    assert not event.log_info
