"""The ActionEvents the operator sends to a Flyte events service (a Connect double of flyteidl2's EventsProxyService),
per scenario, exactly: a success, a user failure retried, a system failure, an abort, the service down for a while,
the operator killed mid-run. A cache hit's event is in test_caching.py.

Compared with what the control plane keeps (the first event of each (attempt, phase, version)); timestamps against the
TaskAction's phase history, which they are derived from."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flyteidl2.common import phase_pb2
from flyteidl2.workflow.run_definition_pb2 import ActionEvent, ErrorInfo

from taskaction_operator.api import constants as c
from taskaction_operator.api.times import parse_time
from taskaction_operator.client.manifests import container_template, taskaction
from taskaction_operator.storage.paths import action_output_prefix
from tests.support.events_service import EventsServiceDouble, events_service
from tests.support.kube import Kube, is_true, progressing_reason
from tests.support.operator_process import OperatorProcess, running_operator

from tests.support.ports import free_port

from .test_observability import scrape, value

CLUSTER = "kwok-test"
OUTCOME, DELAY, EXIT_CODE, MESSAGE = (
    "sim.taskaction.dev/outcome",
    "sim.taskaction.dev/delay",
    "sim.taskaction.dev/exit-code",
    "sim.taskaction.dev/message",
)
LINK = "https://logs.example/{{ .namespace }}/{{ .podName }}/{{ .containerName }}?uid={{ .podUID }}&try={{ .taskRetryAttempt }}"
LOGS = {"kubernetes-enabled": False, "templates": [{"displayName": "Pod logs", "templateUris": [LINK]}]}
ABORT_WAIT = 4
Q, R, S, F, A = ("ACTION_PHASE_QUEUED", "ACTION_PHASE_RUNNING", "ACTION_PHASE_SUCCEEDED", "ACTION_PHASE_FAILED", "ACTION_PHASE_ABORTED")


@pytest.fixture(scope="module")
def double() -> Iterator[EventsServiceDouble]:
    with events_service() as service:
        yield service


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def operator(
    kube: Kube,
    crd: None,
    namespace: str,
    storage_env: dict[str, str],
    double: EventsServiceDouble,
    metrics_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    env = {
        **storage_env,
        "TASKACTION_METRICS_PORT": str(metrics_port),
        "TASKACTION_EVENTS_SERVICE_URL": double.url,
        "TASKACTION_EVENTS_CLUSTER": CLUSTER,
        "TASKACTION_LOGS": json.dumps(LOGS),
        "TASKACTION_ABORT_EVENT_WAIT_SECONDS": str(ABORT_WAIT),
    }
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator-events") / "operator.log", env) as process:
        yield process


def submit(kube: Kube, namespace: str, run: str, *, retries: int = 0, **labels_and_annotations: dict[str, str]) -> None:
    template = container_template("busybox", ["true"], retries=retries)
    kube.create(taskaction(template, run=run, namespace=namespace, **labels_and_annotations))


def seconds(value: str) -> int:
    moment = parse_time(value)
    assert moment is not None
    return int(moment.timestamp())


def summary(event: ActionEvent) -> dict[str, Any]:
    """What the control plane reads of an event, timestamps to the second (the phase history's precision)."""
    return {
        "action": (event.id.run.project, event.id.run.domain, event.id.run.name, event.id.name),
        "attempt": event.attempt,
        "phase": phase_pb2.ActionPhase.Name(event.phase),
        "version": event.version,
        "updated": event.updated_time.seconds,
        "error": (event.error_info.message, ErrorInfo.Kind.Name(event.error_info.kind)) if event.HasField("error_info") else None,
        "cluster_events": [(e.message, e.occurred_at.seconds) for e in event.cluster_events],
        "outputs": (event.outputs.output_uri, event.outputs.report_uri),
        "logs": [(log.name, log.uri) for log in event.log_info],
        "log_pod": (event.log_context.primary_pod_name, [p.primary_container_name for p in event.log_context.pods]),
        "cluster": event.cluster,
        "cache_status": event.cache_status,
    }


class Expect:
    """The events a finished TaskAction's phase history calls for, field by field."""

    def __init__(self, ta: dict[str, Any]):
        self.ta = ta
        self.history = ta["status"]["phaseHistory"]
        self.namespace, self.name = ta["metadata"]["namespace"], ta["metadata"]["name"]

    def event(
        self, attempt: int, phase: str, version: int, entry: int, *, error: tuple[str, str] | None = None, pod_uid: str = "", logged: bool = False
    ) -> dict[str, Any]:
        spec, at = self.ta["spec"], seconds(self.history[entry]["occurredAt"])
        prefix = action_output_prefix(self.namespace, self.name, spec["runOutputBase"], spec["actionName"], attempt)
        pod = f"{self.name}-{attempt - 1}"
        message = self.history[entry].get("message", "")
        return {
            "action": (spec["project"], spec["domain"], spec["runName"], spec["actionName"]),
            "attempt": attempt,
            "phase": phase,
            "version": version,
            "updated": at,
            "error": error,
            "cluster_events": [(message, at)] if message and phase not in (S, F) else [],
            "outputs": (f"{prefix}/outputs.pb", f"{prefix}/report.html"),
            "logs": [("Pod logs", f"https://logs.example/{self.namespace}/{pod}/{pod}?uid={pod_uid}&try={attempt - 1}")] if logged else [],
            "log_pod": (pod, [pod]) if logged else ("", []),
            "cluster": CLUSTER,
            "cache_status": 0,
        }


def phases(ta: dict[str, Any]) -> list[str]:
    return [h["phase"] for h in ta["status"]["phaseHistory"]]


def labelled(ta: dict[str, Any] | None) -> bool:
    return bool(ta) and (ta["metadata"].get("labels") or {}).get(c.LABEL_TERMINATION_STATUS) == c.LABEL_VALUE_TERMINATED


def finished(kube: Kube, run: str, namespace: str, condition: str, timeout: float = 90) -> dict[str, Any]:
    """The action once it ended and its terminal labels are written (which waits for its events to be accepted)."""
    ta = kube.wait("taskaction", f"{run}-a0", namespace, lambda o: is_true(o, condition) and labelled(o), f"{condition} and labelled", timeout=timeout)
    assert ta is not None
    return ta


def test_a_success(kube: Kube, operator: OperatorProcess, namespace: str, double: EventsServiceDouble) -> None:
    submit(kube, namespace, "ev-ok", labels={OUTCOME: "succeed"}, annotations={DELAY: "2s"})
    pod = kube.wait("pod", "ev-ok-a0-0", namespace, lambda o: o is not None, "created")
    ta = finished(kube, "ev-ok", namespace, "Succeeded")
    assert phases(ta) == ["Queued", "Executing", "Completed"]
    x, uid = Expect(ta), pod["metadata"]["uid"]  # type: ignore[index]
    assert [summary(e) for e in double.stored("ev-ok")] == [
        x.event(1, Q, 0, 0),
        x.event(1, R, 1, 1, logged=True, pod_uid=uid),
        x.event(1, S, 0, 2, logged=True, pod_uid=uid),
    ]
    assert len(double.received("ev-ok")) == 3  # nothing sent twice


def test_a_user_failure_with_one_retry_reports_both_attempts(kube: Kube, operator: OperatorProcess, namespace: str, double: EventsServiceDouble) -> None:
    submit(kube, namespace, "ev-retry", retries=1, labels={OUTCOME: "fail"}, annotations={EXIT_CODE: "3", MESSAGE: "boom"})
    ta = finished(kube, "ev-retry", namespace, "Failed")
    assert phases(ta) == ["Queued", "Executing", "RetryableFailure", "Queued", "Executing", "PermanentFailure"]
    first_error = ta["status"]["phaseHistory"][2]["message"].removeprefix("attempt 1: [Error] ")
    x = Expect(ta)
    got = [summary(e) for e in double.stored("ev-retry")]
    # The pods' uids are not known any more (each attempt's pod is gone); the rest is exact.
    uids = [e["logs"][0][1].rsplit("uid=", 1)[1].split("&")[0] if e["logs"] else "" for e in got]
    assert got == [
        x.event(1, Q, 0, 0),
        x.event(1, R, 1, 1, logged=True, pod_uid=uids[1]),
        x.event(1, F, 0, 2, logged=True, pod_uid=uids[2], error=(first_error, "KIND_USER")),
        x.event(2, Q, 0, 3),
        x.event(2, R, 1, 4, logged=True, pod_uid=uids[4]),
        x.event(2, F, 0, 5, logged=True, pod_uid=uids[5], error=(ta["status"]["errorState"]["message"], "KIND_USER")),
    ]
    assert "exit code (3)" in first_error


def test_a_system_failure_restarts_the_attempt_and_reports_its_second_start(
    kube: Kube, operator: OperatorProcess, namespace: str, double: EventsServiceDouble
) -> None:
    submit(kube, namespace, "ev-lost", labels={OUTCOME: "succeed"}, annotations={DELAY: "4s"})
    first = kube.wait("pod", "ev-lost-a0-0", namespace, lambda o: o is not None and o["status"].get("phase") == "Running", "Running")
    double.wait_for("ev-lost", lambda stored: len(stored) == 2, "queued and running")
    kube.delete("pod", "ev-lost-a0-0", namespace)
    ta = finished(kube, "ev-lost", namespace, "Succeeded")
    # Under load a re-created pod may be lost again before it runs: each restart is one more RetryableFailure + Queued.
    history = phases(ta)
    restarts = history.count("RetryableFailure")
    assert restarts >= 1 and history[:3] == ["Queued", "Executing", "RetryableFailure"] and history[-2:] == ["Executing", "Completed"], history
    last = kube.get("pod", "ev-lost-a0-0", namespace)
    assert last is not None and last["metadata"]["uid"] != first["metadata"]["uid"]  # type: ignore[index]
    x, got = Expect(ta), [summary(e) for e in double.stored("ev-lost")]
    pods = {1: first["metadata"]["uid"], len(history) - 2: last["metadata"]["uid"]}  # type: ignore[index]
    expected, queued, running = [], 0, 1  # the system failures themselves are not reported, as upstream
    for i, phase in enumerate(history):
        if phase == "Queued":
            expected.append(x.event(1, Q, queued, i))
            queued += 1
        elif phase == "Executing":
            # A pod lost in between is gone: its uid is only in its event.
            uid = pods.get(i) or got[len(expected)]["logs"][0][1].rsplit("uid=", 1)[1].split("&")[0]
            expected.append(x.event(1, R, running, i, logged=True, pod_uid=uid))
            running += 1
    expected.append(x.event(1, S, 0, len(history) - 1, logged=True, pod_uid=last["metadata"]["uid"]))  # type: ignore[index]
    assert got == expected


def test_an_abort_is_reported_before_the_action_goes(kube: Kube, operator: OperatorProcess, namespace: str, double: EventsServiceDouble) -> None:
    submit(kube, namespace, "ev-abort", labels={OUTCOME: "running"})
    ta = kube.wait("taskaction", "ev-abort-a0", namespace, lambda o: progressing_reason(o) == "Executing", "Executing")
    double.wait_for("ev-abort", lambda stored: len(stored) == 2, "queued and running")
    before = time.time()
    kube.delete("taskaction", "ev-abort-a0", namespace)
    kube.wait("taskaction", "ev-abort-a0", namespace, lambda o: o is None, "gone")
    stored = double.stored("ev-abort")
    # It was gone only once ABORTED was accepted: nothing arrives after.
    assert [(e.attempt, phase_pb2.ActionPhase.Name(e.phase), e.version) for e in stored] == [(1, Q, 0), (1, R, 1), (1, A, 0)]
    aborted = summary(stored[-1])
    x = Expect(ta)  # type: ignore[arg-type]
    assert aborted == {**x.event(1, A, 0, 0), "updated": aborted["updated"], "cluster_events": [("aborted", aborted["updated"])]}
    assert int(before) - 1 <= aborted["updated"] <= time.time()  # the deletion's time


def test_with_the_service_down_nothing_is_lost_and_the_labels_wait(
    kube: Kube, operator: OperatorProcess, namespace: str, double: EventsServiceDouble, metrics_port: int
) -> None:
    with double.down():
        submit(kube, namespace, "ev-down", labels={OUTCOME: "succeed"})
        kube.wait("taskaction", "ev-down-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")  # reconciling goes on
        time.sleep(2)  # a while with the service refusing: several retries
        assert not labelled(kube.get("taskaction", "ev-down-a0", namespace)), "the labels must wait for the events"
        assert double.stored("ev-down") == []
        down = scrape(metrics_port)
        assert value(down, "taskaction_action_events_pending") == 3
        assert value(down, "taskaction_action_events_failed_total", reason="unavailable") >= 3
    finished(kube, "ev-down", namespace, "Succeeded")
    assert [(e.attempt, phase_pb2.ActionPhase.Name(e.phase), e.version) for e in double.stored("ev-down")] == [(1, Q, 0), (1, R, 1), (1, S, 0)]
    up = scrape(metrics_port)
    assert value(up, "taskaction_action_events_pending") == 0
    assert value(up, "taskaction_action_events_sent_total") - value(down, "taskaction_action_events_sent_total") >= 3


def test_an_action_whose_events_are_refused_as_invalid_holds_back_no_other(
    kube: Kube, operator: OperatorProcess, namespace: str, double: EventsServiceDouble
) -> None:
    double.invalid_runs.add("ev-bad")
    try:
        for run in ("ev-bad", "ev-good"):
            submit(kube, namespace, run, labels={OUTCOME: "succeed"})
        finished(kube, "ev-good", namespace, "Succeeded")
        bad = kube.wait("taskaction", "ev-bad-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
        assert not labelled(bad) and double.stored("ev-bad") == []
    finally:
        double.invalid_runs.clear()
    finished(kube, "ev-bad", namespace, "Succeeded")  # accepted once valid: its backoff is capped
    assert [(e.attempt, phase_pb2.ActionPhase.Name(e.phase), e.version) for e in double.stored("ev-bad")] == [(1, Q, 0), (1, R, 1), (1, S, 0)]


def test_a_deleted_action_waits_for_its_events_only_so_long(
    kube: Kube, operator: OperatorProcess, namespace: str, double: EventsServiceDouble, metrics_port: int
) -> None:
    with double.down():
        submit(kube, namespace, "ev-gone", labels={OUTCOME: "running"})
        kube.wait("taskaction", "ev-gone-a0", namespace, lambda o: progressing_reason(o) == "Executing", "Executing")
        kube.delete("taskaction", "ev-gone-a0", namespace)
        deleted = time.monotonic()
        kube.wait("taskaction", "ev-gone-a0", namespace, lambda o: o is None, "gone", timeout=ABORT_WAIT + 20)
        assert time.monotonic() - deleted >= ABORT_WAIT - 1.5  # held by its finalizer meanwhile (the deletion time is in seconds)
    deadline = time.monotonic() + 10
    while not (warnings := [e for e in kube.list("events", namespace) if e["involvedObject"]["name"] == "ev-gone-a0" and e["reason"] == "ActionEventsNotDelivered"]):
        assert time.monotonic() < deadline, "no ActionEventsNotDelivered event"  # posted in the background
        time.sleep(0.2)
    assert warnings[0]["type"] == "Warning"
    assert double.stored("ev-gone") == []
    assert value(scrape(metrics_port), "taskaction_action_events_abandoned_total") == 1


def test_a_kill_9_mid_run_loses_nothing(kube: Kube, operator: OperatorProcess, namespace: str, double: EventsServiceDouble) -> None:
    submit(kube, namespace, "ev-kill", labels={OUTCOME: "succeed"}, annotations={DELAY: "5s"})
    double.wait_for("ev-kill", lambda stored: len(stored) == 2, "queued and running")
    operator.kill9()
    operator.start()
    ta = finished(kube, "ev-kill", namespace, "Succeeded")
    assert phases(ta) == ["Queued", "Executing", "Completed"]
    x = Expect(ta)
    stored = [summary(e) for e in double.stored("ev-kill")]
    uid = stored[1]["logs"][0][1].rsplit("uid=", 1)[1].split("&")[0]
    assert stored == [x.event(1, Q, 0, 0), x.event(1, R, 1, 1, logged=True, pod_uid=uid), x.event(1, S, 0, 2, logged=True, pod_uid=uid)]
    assert len(double.received("ev-kill")) > 3  # the restarted operator sent them again; the service kept the first
