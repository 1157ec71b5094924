"""The chaos scenarios beside the bursts (burst.py) and the bad input (bad_input.py): ghosts after a watch gap that
ends in 410 Gone, and faults around a run (a pod deleted from outside, a node deleted, S3 and the events service
unreachable for a while). Each returns its figures; e2e/chaos/chaos.py prints them and writes docs/reliability.md."""

from __future__ import annotations

import re
from collections.abc import Callable
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

from flyteidl2.common import phase_pb2
from flyteidl2.workflow.run_definition_pb2 import ActionEvent

from e2e.chaos.control_plane import ControlPlane
from e2e.chaos.harness import SupervisedOperator, TcpGate, create_all, list_retrying, wait_terminal
from taskaction_operator.api import constants as c
from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.events_service import EventsServiceDouble
from tests.support.kube import Kube, is_true, progressing_reason

def actions(namespace: str, prefix: str, count: int, outcome: str, seconds: str) -> list[dict[str, Any]]:
    template = container_template("busybox", ["true"], cpu="10m", memory="16Mi")
    return [
        taskaction(template, run=f"{prefix}-{i:04d}", namespace=namespace, labels={"sim.taskaction.dev/outcome": outcome, "chaos": prefix},
                   annotations={"sim.taskaction.dev/delay": seconds})
        for i in range(count)
    ]


def scrape(port: int) -> dict[str, float]:
    """The operator's /metrics, `name{labels}` -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\w+(?:\{[^}]*\})?) (\S+)$", text, flags=re.MULTILINE)}


def wait_pods_running(kube: Kube, namespace: str, selector: str, count: int, timeout: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        pods = [p for p in list_retrying(kube, "pods", namespace, selector) if (p.get("status") or {}).get("phase") == "Running"]
        if len(pods) >= count or time.monotonic() > deadline:
            return pods
        time.sleep(2)


def ghosts(kube: Kube, namespace: str, operator: SupervisedOperator, plane: ControlPlane, metrics_port: int, *, count: int, settle: float) -> dict[str, Any]:
    """`count` actions whose pods run until deleted. With the API server down, a third lose their pod and a third
    vanish themselves, straight from etcd; etcd is compacted, the API server started again. After `settle` seconds no
    action may still be Executing on a pod that is gone, and the operator may know no action that is gone."""
    objects = actions(namespace, "ghost", count, "running", "1s")
    create_all(kube, objects)
    names = [o["metadata"]["name"] for o in objects]
    running = {p["metadata"]["name"]: p["metadata"]["uid"] for p in wait_pods_running(kube, namespace, "chaos=ghost", count)}
    third = count // 3
    lose_pod, vanish, untouched = names[:third], names[third:2 * third], names[2 * third:]
    command, cwd = plane.stop_apiserver()
    gap_started = time.monotonic()
    deleted_pods = sum(plane.etcd_delete(f"/registry/pods/{namespace}/{name}-0") for name in lose_pod)
    deleted_actions = sum(plane.etcd_delete(f"/registry/{c.GROUP}/{c.PLURAL}/{namespace}/{name}") for name in vanish)
    revision = plane.etcd_compact()
    plane.start_apiserver(command, cwd)
    gap = time.monotonic() - gap_started
    deadline = time.monotonic() + settle
    while True:
        operator.supervise()
        tas = {o["metadata"]["name"]: o for o in list_retrying(kube, "taskactions", namespace, "chaos=ghost")}
        pods = {p["metadata"]["name"]: p["metadata"]["uid"] for p in list_retrying(kube, "pods", namespace, "chaos=ghost")}
        stuck = [n for n in lose_pod if pods.get(f"{n}-0") in (None, running.get(f"{n}-0")) and progressing_reason(tas.get(n)) == c.REASON_EXECUTING]
        if not stuck or time.monotonic() > deadline:
            break
        time.sleep(3)
    known = sum(v for k, v in scrape(metrics_port).items() if k.startswith("taskaction_active{"))
    expired = sum(v for k, v in scrape(metrics_port).items() if k.startswith("taskaction_watch_restarts_total{") and "expired" in k)
    disturbed = [n for n in untouched if pods.get(f"{n}-0") != running.get(f"{n}-0") or progressing_reason(tas.get(n)) != c.REASON_EXECUTING]
    return {
        "actions": count,
        "pods_deleted_in_gap": deleted_pods,
        "actions_deleted_in_gap": deleted_actions,
        "gap_seconds": round(gap, 1),
        "etcd_compacted_at_revision": revision,
        "operator_watches_resumed_with_410_expired": expired,
        "settle_seconds": settle,
        "executing_on_a_vanished_pod": len(stuck),
        "ghost_actions_in_operator_store": int(known - len(tas)),
        "untouched_actions_disturbed": len(disturbed),
        "operator_restarts": operator.restarts,
        "examples": {"executing_on_a_vanished_pod": stuck[:5], "untouched_actions_disturbed": disturbed[:5]},
    }


def _ended(kube: Kube, namespace: str, prefix: str, names: list[str], timeout: float, operator: SupervisedOperator) -> dict[str, Any]:
    started = time.monotonic()
    objects, ended = wait_terminal(kube, namespace, names, timeout, f"chaos={prefix}", tick=operator.supervise)
    finals = [objects.get(n) for n in names]
    return {
        "actions": len(names),
        "succeeded": sum(1 for o in finals if is_true(o, c.CONDITION_SUCCEEDED)),
        "failed": sum(1 for o in finals if is_true(o, c.CONDITION_FAILED)),
        "not_ended": len(names) - len(ended),
        "attempts_other_than_1": sum(1 for o in finals if o and (o.get("status") or {}).get("attempts") != 1),
        "system_failures": sum(int((o.get("status") or {}).get("systemFailures") or 0) for o in finals if o),
        "seconds_to_end_after_fault": round(max(ended.values()) - started, 1) if ended else None,
    }


def pod_deleted(kube: Kube, namespace: str, operator: SupervisedOperator, *, count: int) -> dict[str, Any]:
    """Every pod of `count` running actions deleted from outside: each action counts one system failure, runs its
    attempt again in a new pod and succeeds."""
    objects = actions(namespace, "podgone", count, "succeed", "20s")
    create_all(kube, objects)
    wait_pods_running(kube, namespace, "chaos=podgone", count)
    kube.run("delete", "pods", "-n", namespace, "-l", "chaos=podgone", "--wait=false")
    return _ended(kube, namespace, "podgone", [o["metadata"]["name"] for o in objects], 300, operator)


def node_deleted(kube: Kube, namespace: str, operator: SupervisedOperator, cluster: ModuleType, *, count: int) -> dict[str, Any]:
    """The node under half of `count` running actions deleted (kwok's fake node: its pods are orphaned and the pod
    garbage collector removes them): every action still succeeds. The node is added back afterwards."""
    objects = actions(namespace, "nodegone", count, "succeed", "120s")  # outlives the pod garbage collector's orphan sweep
    create_all(kube, objects)
    pods = wait_pods_running(kube, namespace, "chaos=nodegone", count)
    node = sorted(p["spec"]["nodeName"] for p in pods)[0]
    on_node = sum(1 for p in pods if p["spec"]["nodeName"] == node)
    kube.run("delete", "node", node, "--wait=false")
    try:
        figures = _ended(kube, namespace, "nodegone", [o["metadata"]["name"] for o in objects], 420, operator)
    finally:
        cluster.kwokctl("scale", "node", "--replicas", str(cluster.NODE_COUNT), *(a for p in cluster.NODE_PARAMS for a in ("--param", p)))
        cluster.wait_for(f"{cluster.NODE_COUNT} Ready nodes", cluster.node_problems, cluster.READY_TIMEOUT)
    return {"pods_on_the_deleted_node": on_node, **figures}


def storage_unreachable(kube: Kube, namespace: str, operator: SupervisedOperator, gate: TcpGate, *, count: int, down: float) -> dict[str, Any]:
    """S3 (reached through `gate`) unreachable for `down` seconds while `count` pods succeed and their outputs are to
    be read: nothing fails for it, every action succeeds once S3 is back, at its first attempt."""
    objects = actions(namespace, "s3gone", count, "succeed", "2s")
    gate.close()
    create_all(kube, objects)
    time.sleep(down)
    during = list_retrying(kube, "taskactions", namespace, "chaos=s3gone")
    gate.open()
    figures = _ended(kube, namespace, "s3gone", [o["metadata"]["name"] for o in objects], 300, operator)
    return {"down_seconds": down, "ended_while_down": sum(1 for o in during if is_true(o, c.CONDITION_SUCCEEDED) or is_true(o, c.CONDITION_FAILED)), **figures}


def events_service_unreachable(kube: Kube, namespace: str, operator: SupervisedOperator, gate: TcpGate, double: EventsServiceDouble,
                               *, count: int, down: float) -> dict[str, Any]:
    """The events service (reached through `gate`) unreachable for `down` seconds, with a kill -9 of the operator
    halfway, while `count` actions run: reconciling does not wait for the service (every action ends meanwhile), the
    terminal labels and the finalizer do (none is released before its events are taken), and once the service is back
    every action's events reach it, in order, none lost."""
    objects = actions(namespace, "evgone", count, "succeed", "2s")
    runs = [o["metadata"]["labels"][c.LABEL_RUN] for o in objects]
    gate.close()
    create_all(kube, objects)
    time.sleep(down / 2)
    operator.kill(graceful=False)
    time.sleep(down / 2)
    during = list_retrying(kube, "taskactions", namespace, "chaos=evgone")
    gate.open()
    reopened = time.monotonic()
    figures = _ended(kube, namespace, "evgone", [o["metadata"]["name"] for o in objects], 300, operator)
    missing = _wait_events_complete(double, runs, timeout=300, tick=operator.supervise)
    delivered = time.monotonic() - reopened
    after = list_retrying(kube, "taskactions", namespace, "chaos=evgone")
    return {
        "down_seconds": down,
        "operator_kills_while_down": 1,
        "ended_while_down": sum(1 for o in during if is_true(o, c.CONDITION_SUCCEEDED) or is_true(o, c.CONDITION_FAILED)),
        "released_while_down": sum(1 for o in during if _released(o)),
        **figures,
        "seconds_to_deliver_after_reopen": round(delivered, 1),
        "actions_missing_events": len(missing),
        "actions_with_events_out_of_order": sum(1 for run in runs if not _in_order(double.received(run))),
        "not_released_after_delivery": sum(1 for o in after if not _released(o)),
        "examples": {"actions_missing_events": missing[:5]},
    }


_TERMINAL = phase_pb2.ACTION_PHASE_SUCCEEDED


def _wait_events_complete(double: EventsServiceDouble, runs: list[str], *, timeout: float, tick: Callable[[], None]) -> list[str]:
    """The runs whose queued, running and succeeded events the service has not all kept after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        missing = [run for run in runs if not _complete(double.stored(run))]
        if not missing or time.monotonic() > deadline:
            return missing
        tick()
        time.sleep(1)


def _complete(stored: list[ActionEvent]) -> bool:
    phases = {e.phase for e in stored if e.attempt == 1}
    return {phase_pb2.ACTION_PHASE_QUEUED, phase_pb2.ACTION_PHASE_RUNNING, _TERMINAL} <= phases


def _in_order(received: list[ActionEvent]) -> bool:
    """The first arrival of each event comes in phase order (a repeat after a restart may come later: the service keeps
    the first)."""
    firsts: dict[tuple[int, int, int], int] = {}
    for event in received:
        firsts.setdefault((event.attempt, event.phase, event.version), len(firsts))
    by_arrival = sorted(firsts, key=firsts.__getitem__)
    return by_arrival == sorted(by_arrival, key=lambda key: (key[0], key[1]))


def _released(ta: dict[str, Any]) -> bool:
    metadata = ta.get("metadata") or {}
    return (metadata.get("labels") or {}).get(c.LABEL_TERMINATION_STATUS) == c.LABEL_VALUE_TERMINATED and c.FINALIZER not in (metadata.get("finalizers") or [])
