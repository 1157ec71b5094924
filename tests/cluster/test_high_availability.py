"""Two operator processes, one Lease: kill -9 the leader in the middle of a burst of 200 actions. The standby takes
over within 15 s of the leader's last renewal (the Lease lasts 8 s here: takeover is bounded by the lease duration
plus one retry period, whatever the load), never before the Lease expired, every action finishes, and no attempt ever
gets a second pod. Both bounds are read from the Lease's own timestamps (renewTime, acquireTime), which the replicas
write from this machine's clock: how long this test takes to notice the new holder (kubectl under load) is not part
of the takeover."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator

import pytest

from taskaction_operator.api.times import parse_time
from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, is_true
from tests.support.operator_process import OperatorProcess
from tests.support.waiting import wait_until

COUNT = 200
LEASE = "ha-test"
LEASE_SECONDS = 8
TAKEOVER_LIMIT_SECONDS = 15
TAKEOVER_WAIT_SECONDS = 60  # for this test to see the new holder: its polls (kubectl) are slow on a loaded machine


def succeeded(actions: list[dict]) -> int:
    return sum(is_true(x, "Succeeded") for x in actions)


def holder(kube: Kube, namespace: str) -> str | None:
    lease = kube.get("lease", LEASE, namespace)
    return ((lease or {}).get("spec") or {}).get("holderIdentity")


@pytest.fixture
def replicas(kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], tmp_path) -> Iterator[dict[str, OperatorProcess]]:
    processes = {
        name: OperatorProcess(
            kube.kubeconfig,
            [namespace],
            tmp_path / f"{name}.log",
            {
                **storage_env,
                "TASKACTION_LEADER_ELECTION": "true",
                "TASKACTION_LEADER_ELECTION_NAMESPACE": namespace,
                "TASKACTION_LEADER_ELECTION_LEASE": LEASE,
                "TASKACTION_LEADER_ELECTION_IDENTITY": name,
                "TASKACTION_LEASE_DURATION_SECONDS": str(LEASE_SECONDS),
                "TASKACTION_LEASE_RENEW_DEADLINE_SECONDS": "5",
                "TASKACTION_LEASE_RETRY_SECONDS": "1",
            },
        )
        for name in ("replica-a", "replica-b")
    }
    yield processes
    survivor = next((p for p in processes.values() if p.proc is not None and p.proc.poll() is None), None)
    kube.run("delete", "taskactions", "--all", "-n", namespace, "--wait=true", "--timeout=120s", check=survivor is None)
    for process in processes.values():
        process.stop()


def test_standby_takes_over_and_nothing_is_lost_or_doubled(kube: Kube, namespace: str, replicas: dict[str, OperatorProcess]) -> None:
    a, b = replicas["replica-a"], replicas["replica-b"]
    a.start()
    kube.wait("lease", LEASE, namespace, lambda o: holder(kube, namespace) == "replica-a", "held by replica-a")
    b.start()
    template = container_template("busybox", ["true"])
    burst = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            taskaction(
                template,
                run=f"ha-{i}",
                namespace=namespace,
                labels={"sim.taskaction.dev/outcome": "succeed", "ha": "yes"},
                annotations={"sim.taskaction.dev/delay": "3s"},
            )
            for i in range(COUNT)
        ],
    }
    kube.run("create", "-f", "-", input=json.dumps(burst), timeout=120)
    uids: dict[str, set[str]] = defaultdict(set)

    def observe_pods() -> None:
        for pod in kube.list("pods", namespace, "ha=yes"):
            uids[pod["metadata"]["name"]].add(pod["metadata"]["uid"])

    time.sleep(2)
    observe_pods()
    a.kill9()
    last_renewal = parse_time(kube.get("lease", LEASE, namespace)["spec"]["renewTime"])

    def taken_over() -> bool:
        observe_pods()
        return holder(kube, namespace) == "replica-b"

    wait_until(taken_over, TAKEOVER_WAIT_SECONDS, "the standby did not take the Lease over")
    acquired = parse_time(kube.get("lease", LEASE, namespace)["spec"]["acquireTime"])
    takeover = (acquired - last_renewal).total_seconds()
    assert takeover >= LEASE_SECONDS - 0.01, "taken before the Lease expired"
    assert takeover <= TAKEOVER_LIMIT_SECONDS, f"taken {takeover:.1f} s after the leader's last renewal"

    actions: list[dict] = []

    def all_succeeded() -> bool:
        observe_pods()
        actions[:] = kube.list("taskactions", namespace, "ha=yes")
        return succeeded(actions) == COUNT

    wait_until(all_succeeded, 240, lambda: f"{succeeded(actions)}/{COUNT} succeeded; replica-b log:\n{b.log()}", interval=1)
    observe_pods()
    assert sorted(uids) == sorted(f"ha-{i}-a0-0" for i in range(COUNT))
    doubled = {name: ids for name, ids in uids.items() if len(ids) > 1}
    assert not doubled, f"attempts with a second pod: {doubled}"
    assert all(x["status"]["attempts"] == 1 for x in actions)
    print(f"takeover after the leader's last renewal: {takeover:.1f}s")
