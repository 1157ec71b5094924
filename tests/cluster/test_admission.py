"""TASKACTION_MAX_RUNNING_PER_NAMESPACE: of a burst of TaskActions, no more than the limit have a running pod at
once; the others wait Queued and start as places free up, and every one ends Succeeded."""

from __future__ import annotations

import threading
from pathlib import Path

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, condition, is_true
from tests.support.operator_process import running_operator

COUNT = 5
LIMIT = 2


def progressing_message(obj: dict | None) -> str:
    return (condition(obj, "Progressing") or {}).get("message") or ""


def test_no_more_pods_than_the_limit_run_at_once(kube: Kube, crd: None, namespace: str, tmp_path: Path) -> None:
    env = {"TASKACTION_MAX_RUNNING_PER_NAMESPACE": str(LIMIT), "TASKACTION_READ_OUTPUTS": "false"}
    template = container_template("busybox", ["true"])
    most, stop = [0], threading.Event()

    def count_active() -> None:
        while not stop.is_set():
            pods = kube.list("pods", namespace, "flyte.org/managed=true")
            active = [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed") and not p["metadata"].get("deletionTimestamp")]
            most[0] = max(most[0], len(active))
            stop.wait(0.2)

    with running_operator(kube, namespace, tmp_path / "operator.log", env):
        counter = threading.Thread(target=count_active, daemon=True)
        counter.start()
        try:
            for i in range(COUNT):  # each pod runs 3 s (kwok), so the later ones must wait
                kube.create(taskaction(template, run=f"lim-{i}", namespace=namespace, annotations={"sim.taskaction.dev/delay": "3s"}))
            held = kube.wait("taskaction", f"lim-{COUNT - 1}-a0", namespace,
                             lambda o: "waiting for a free place" in progressing_message(o) or is_true(o, "Succeeded"), "held or done")
            assert "waiting for a free place: 2 pods run in namespace" in progressing_message(held), held.get("status")
            for i in range(COUNT):
                kube.wait("taskaction", f"lim-{i}-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded", timeout=120)
        finally:
            stop.set()
            counter.join(timeout=5)
    assert 0 < most[0] <= LIMIT, most
