"""kill -9 the operator in the middle of a burst and start it again: every action finishes, none gets a second pod."""

from __future__ import annotations

import time

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, is_true
from tests.support.waiting import wait_until

COUNT = 30


def test_restart_mid_flight_loses_nothing_and_duplicates_nothing(kube: Kube, operator, namespace: str) -> None:
    template = container_template("busybox", ["true"])
    for i in range(COUNT):
        kube.create(
            taskaction(
                template,
                run=f"burst-{i}",
                namespace=namespace,
                labels={"sim.taskaction.dev/outcome": "succeed", "burst": "yes"},
                annotations={"sim.taskaction.dev/delay": "4s"},
            )
        )
    # In the middle of it: once its first pods are there (the actions run 4 s each), whatever the machine's load.
    wait_until(lambda: kube.list("pods", namespace, "burst=yes"), 60, "no pod of the burst yet", interval=0.2)
    operator.kill9()
    time.sleep(1.0)
    operator.start()

    actions: list[dict] = []

    def all_succeeded() -> bool:
        actions[:] = kube.list("taskactions", namespace, "burst=yes")
        return succeeded() == COUNT

    def succeeded() -> int:
        return sum(is_true(a, "Succeeded") for a in actions)

    wait_until(all_succeeded, 120, lambda: f"{succeeded()}/{COUNT} succeeded after the restart; operator log:\n{operator.log()}", interval=1)
    pods = kube.list("pods", namespace, "burst=yes")
    assert sorted(p["metadata"]["name"] for p in pods) == sorted(f"burst-{i}-a0-0" for i in range(COUNT))
    assert all(a["status"]["attempts"] == 1 for a in actions)
    for action in actions:
        phases = [h["phase"] for h in action["status"]["phaseHistory"]]
        assert phases.count("Completed") == 1, (action["metadata"]["name"], phases)
