"""A TaskAction's life on the real control plane: pod created and owned, phases reported, failures named,
deletion cascading through the real garbage collector. kwok drives the pods (e2e/kwok/stages.yaml)."""

from __future__ import annotations

import base64

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, condition, is_true, progressing_reason

OUTCOME = "sim.taskaction.dev/outcome"
DELAY = "sim.taskaction.dev/delay"
EXIT_CODE = "sim.taskaction.dev/exit-code"
MESSAGE = "sim.taskaction.dev/message"


def make(namespace: str, run: str, *, retries: int = 0, labels: dict | None = None, annotations: dict | None = None) -> dict:
    template = container_template("python:3.11-slim", ["python", "-c", "print('hello')"], retries=retries)
    return taskaction(template, run=run, namespace=namespace, labels=labels, annotations=annotations)


def test_creates_an_owned_pod_and_reports_executing(kube: Kube, operator, namespace: str) -> None:
    created = kube.create(make(namespace, "run-owned", labels={OUTCOME: "running"}))
    ta = kube.wait("taskaction", "run-owned-a0", namespace, lambda o: progressing_reason(o) == "Executing", "Executing")
    pod = kube.get("pod", "run-owned-a0-0", namespace)
    assert pod is not None
    assert pod["metadata"]["ownerReferences"] == [
        {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": "run-owned-a0", "uid": created["metadata"]["uid"], "controller": True}
    ]
    labels = pod["metadata"]["labels"]
    assert labels["flyte.org/managed"] == "true"
    assert (labels["run"], labels["action"], labels["attempt"]) == ("run-owned", "a0", "1")
    assert pod["spec"]["restartPolicy"] == "Never"
    assert "flyte.org/plugin-finalizer" in ta["metadata"]["finalizers"]
    assert ta["status"]["attempts"] == 1
    assert [h["phase"] for h in ta["status"]["phaseHistory"]][:1] == ["Queued"]
    # kopf keeps no bookkeeping on our objects.
    assert not [k for k in ta["metadata"].get("annotations", {}) if "kopf" in k]


def test_pod_success_makes_the_action_succeeded(kube: Kube, operator, namespace: str) -> None:
    kube.create(make(namespace, "run-ok", labels={OUTCOME: "succeed"}, annotations={DELAY: "1s"}))
    ta = kube.wait("taskaction", "run-ok-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    assert condition(ta, "Succeeded")["reason"] == "Completed"
    progressing = condition(ta, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "Completed")
    phases = [h["phase"] for h in ta["status"]["phaseHistory"]]
    assert phases[0] == "Queued" and phases[-1] == "Completed"
    assert len(phases) == len(set(phases)), phases
    assert ta["status"]["pluginPhase"] == "PhaseSuccess"
    ta = kube.wait(
        "taskaction", "run-ok-a0", namespace, lambda o: "flyte.org/completed-time" in o["metadata"].get("labels", {}), "labelled"
    )
    assert ta["metadata"]["labels"]["flyte.org/termination-status"] == "terminated"
    # Nothing is left to abort: the finalizer went in the same write, so deleting it needs no operator.
    assert "flyte.org/plugin-finalizer" not in ta["metadata"].get("finalizers", [])


def test_pod_failure_makes_the_action_failed_with_a_named_error(kube: Kube, operator, namespace: str) -> None:
    kube.create(make(namespace, "run-fail", labels={OUTCOME: "fail"}, annotations={EXIT_CODE: "3", MESSAGE: "boom"}))
    ta = kube.wait("taskaction", "run-fail-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    assert condition(ta, "Failed")["reason"] == "PermanentFailure"
    assert condition(ta, "Progressing")["status"] == "False"
    error = ta["status"]["errorState"]
    assert (error["code"], error["kind"]) == ("Error", "USER")
    assert "exit code (3)" in error["message"] and "boom" in error["message"]


def test_oomkilled_pod_is_a_user_failure(kube: Kube, operator, namespace: str) -> None:
    kube.create(make(namespace, "run-oom", labels={OUTCOME: "oomkilled"}))
    ta = kube.wait("taskaction", "run-oom-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    assert (ta["status"]["errorState"]["code"], ta["status"]["errorState"]["kind"]) == ("OOMKilled", "USER")


def test_user_failure_is_retried_in_a_new_pod(kube: Kube, operator, namespace: str) -> None:
    kube.create(make(namespace, "run-retry", retries=1, labels={OUTCOME: "fail"}))
    ta = kube.wait("taskaction", "run-retry-a0", namespace, lambda o: is_true(o, "Failed"), "Failed", timeout=45)
    assert ta["status"]["attempts"] == 2
    assert kube.get("pod", "run-retry-a0-1", namespace) is not None
    assert kube.get("pod", "run-retry-a0-0", namespace) is None  # the failed attempt's pod was removed
    messages = [h.get("message", "") for h in ta["status"]["phaseHistory"] if h["phase"] == "RetryableFailure"]
    assert any(m.startswith("attempt 1: [Error]") for m in messages), ta["status"]["phaseHistory"]


def test_invalid_spec_fails_with_invalid_spec_and_no_pod(kube: Kube, operator, namespace: str) -> None:
    bad = make(namespace, "run-bad")
    bad["spec"]["taskTemplate"] = base64.b64encode(b"\xff\xff not a protobuf").decode()
    kube.create(bad)
    ta = kube.wait("taskaction", "run-bad-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    failed = condition(ta, "Failed")
    assert failed["reason"] == "InvalidSpec"
    assert "taskTemplate" in failed["message"]
    assert ta["status"]["errorState"]["code"] == "InvalidSpec"
    assert "flyte.org/plugin-finalizer" not in ta["metadata"].get("finalizers", [])
    assert kube.list("pods", namespace, "run=run-bad") == []

    missing = make(namespace, "run-empty")
    del missing["spec"]["inputUri"]
    kube.create(missing)
    ta = kube.wait("taskaction", "run-empty-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    assert condition(ta, "Failed")["message"] == "required spec fields are empty: [inputUri]"


def test_deleting_a_running_action_aborts_its_pod(kube: Kube, operator, namespace: str) -> None:
    kube.create(make(namespace, "run-abort", labels={OUTCOME: "running"}))
    kube.wait("pod", "run-abort-a0-0", namespace, lambda o: o is not None and o["status"].get("phase") == "Running", "Running")
    kube.delete("taskaction", "run-abort-a0", namespace)
    kube.wait("taskaction", "run-abort-a0", namespace, lambda o: o is None, "deleted")
    kube.wait("pod", "run-abort-a0-0", namespace, lambda o: o is None, "deleted")


def test_deleting_a_finished_action_removes_its_pod_by_garbage_collection(kube: Kube, operator, namespace: str) -> None:
    kube.create(make(namespace, "run-gc", labels={OUTCOME: "succeed"}))
    kube.wait("taskaction", "run-gc-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    pod = kube.get("pod", "run-gc-a0-0", namespace)
    assert pod is not None and pod["status"]["phase"] == "Succeeded"
    # The operator does not touch the pod of a finished action: only kube-controller-manager's
    # garbage collector, following the pod's ownerReference, can remove it.
    kube.delete("taskaction", "run-gc-a0", namespace)
    kube.wait("taskaction", "run-gc-a0", namespace, lambda o: o is None, "deleted")
    kube.wait("pod", "run-gc-a0-0", namespace, lambda o: o is None, "garbage-collected", timeout=60)
