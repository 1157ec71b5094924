"""The kubelet stand-in (tests/support/kubelet_standin.py) on the real control plane, with the operator: the pods of
TaskActions labelled sim.taskaction.dev/outcome=running (kwok keeps them Running and never ends them) run their
commands as local processes, and the stand-in's status write is what ends them, as a kubelet's would.

The templates are plain container tasks without declared outputs: the operator still reads error.pb / outputs.pb of a
succeeded pod (SeaweedFS), finds neither, and calls the task succeeded; the exit code alone decides."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, is_true
from tests.support.kubelet_standin import KubeletStandIn

RUNNING = {"sim.taskaction.dev/outcome": "running"}
IMAGE = "busybox:1.36"


def shell_action(namespace: str, run: str, script: str, *, action: str = "a0", parent: str | None = None) -> dict[str, Any]:
    template = container_template(IMAGE, [script], command=["sh", "-c"])
    return taskaction(template, run=run, action=action, parent=parent, namespace=namespace, labels=RUNNING)


def terminated(kube: Kube, pod: str, namespace: str) -> dict[str, Any]:
    obj = kube.get("pod", pod, namespace)
    assert obj is not None
    (status,) = obj["status"]["containerStatuses"]
    return {"phase": obj["status"]["phase"], **status["state"]["terminated"]}


def test_exit_3_makes_the_action_failed_with_the_exit_code(kube: Kube, operator, namespace: str, tmp_path: Path) -> None:
    with KubeletStandIn(kube, namespace, tmp_path) as kubelet:
        kube.create(shell_action(namespace, "ks-fail", "echo boom >&2; exit 3"))
        record = kubelet.wait_for("ks-fail-a0-0")
        ta = kube.wait("taskaction", "ks-fail-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    assert record.exit_codes == {"ks-fail-a0-0": 3}, kubelet.report()
    assert len(kubelet.records_of("ks-fail-a0-0")) == 1
    error = ta["status"]["errorState"]
    assert (error["code"], error["kind"]) == ("Error", "USER")
    # FallbackToLogsOnError (the operator's pods): the log's tail is the termination message.
    assert "exit code (3)" in error["message"] and "boom" in error["message"], error
    state = terminated(kube, "ks-fail-a0-0", namespace)
    assert (state["phase"], state["exitCode"], state["reason"], state["message"]) == ("Failed", 3, "Error", "boom\n")


def test_a_termination_message_file_wins_over_the_log(kube: Kube, operator, namespace: str, tmp_path: Path) -> None:
    marker = f"bad input: {uuid.uuid4().hex}"  # this test's own words, to tell its file from any other program's
    script = f"echo noise >&2; echo '{marker}' > /dev/termination-log; exit 4"
    with KubeletStandIn(kube, namespace, tmp_path) as kubelet:
        kube.create(shell_action(namespace, "ks-msg", script))
        ta = kube.wait("taskaction", "ks-msg-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    message = ta["status"]["errorState"]["message"]
    assert "exit code (4)" in message and marker in message and "noise" not in message, kubelet.report()
    # The stand-in redirected the path: the host's own /dev/termination-log (which other programs may write) never
    # got this test's message.
    host_file = Path("/dev/termination-log")
    assert not host_file.exists() or marker not in host_file.read_text(errors="replace")


def test_a_parent_pod_waits_for_its_childs_pod(kube: Kube, operator, namespace: str, tmp_path: Path) -> None:
    """Both end only if they run at the same time: the parent until the child is done, the child after the parent
    started (they meet in a directory of this machine: the stand-in's processes share its filesystem)."""
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    parent = f"touch {meeting}/parent-started; until [ -e {meeting}/child-done ]; do sleep 0.1; done"
    child = f"until [ -e {meeting}/parent-started ]; do sleep 0.1; done; touch {meeting}/child-done"
    with KubeletStandIn(kube, namespace, tmp_path / "kubelet") as kubelet:
        kube.create(shell_action(namespace, "ks-tree", parent))
        kube.create(shell_action(namespace, "ks-tree", child, action="c1", parent="a0"))
        for name in ("ks-tree-a0", "ks-tree-c1"):
            kube.wait("taskaction", name, namespace, lambda o: is_true(o, "Succeeded"), "Succeeded", timeout=60)
    assert {r.name: r.exit_codes for r in kubelet.records} == {"ks-tree-a0-0": {"ks-tree-a0-0": 0}, "ks-tree-c1-0": {"ks-tree-c1-0": 0}}


def test_deleting_a_running_action_kills_its_process(kube: Kube, operator, namespace: str, tmp_path: Path) -> None:
    with KubeletStandIn(kube, namespace, tmp_path) as kubelet:
        kube.create(shell_action(namespace, "ks-abort", "echo started; exec sleep 300"))
        kube.wait("pod", "ks-abort-a0-0", namespace, lambda o: o is not None and o["status"].get("phase") == "Running", "Running")
        kubelet.wait_for_output("ks-abort-a0-0", "started")
        kube.delete("taskaction", "ks-abort-a0", namespace)
        record = kubelet.wait_for("ks-abort-a0-0", timeout=30)
        kube.wait("pod", "ks-abort-a0-0", namespace, lambda o: o is None, "deleted")
    assert record.deleted and record.exit_codes == {"ks-abort-a0-0": 137}, kubelet.report()
    assert len(kubelet.records_of("ks-abort-a0-0")) == 1


def test_a_pod_is_never_run_by_a_second_stand_in(kube: Kube, operator, namespace: str, tmp_path: Path) -> None:
    with KubeletStandIn(kube, namespace, tmp_path / "first") as first:
        kube.create(shell_action(namespace, "ks-once", "echo started; exec sleep 300"))
        first.wait_for_output("ks-once-a0-0", "started")
    # The first one's end killed the process; the pod stays Running, claimed by the first stand-in.
    pod = kube.get("pod", "ks-once-a0-0", namespace)
    assert pod is not None and pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["containerID"] == first.records[0].container("ks-once-a0-0").container_id
    with KubeletStandIn(kube, namespace, tmp_path / "second") as second:
        time.sleep(3)  # the watch lists the namespace's pods at once: 3 s is plenty to have started it
        assert second.records_of("ks-once-a0-0") == [], second.report()
    kube.delete("taskaction", "ks-once-a0", namespace)
