"""Tests of the local test cluster itself (e2e/cluster.py + e2e/kwok/stages.yaml).

They bring the cluster up with `python3 e2e/cluster.py up` (fails, never skips, when it
cannot start), then create bare pods carrying the sim.taskaction.dev/* labels and
annotations and check the state kwok's stages give them, plus garbage collection by the
real kube-controller-manager. Everything happens in a fresh namespace that is deleted at
the end. Only needs pytest; talks to the cluster with the cached kubectl v1.36.3.

    python3 -m pytest tests/cluster/test_cluster_infra.py -q
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.kube import Kube

from tests.support.local_cluster import cluster

OUTCOME = "sim.taskaction.dev/outcome"
DELAY = "sim.taskaction.dev/delay"
EXIT_CODE = "sim.taskaction.dev/exit-code"
MESSAGE = "sim.taskaction.dev/message"


@pytest.fixture(scope="module")
def ns(namespace: str) -> str:
    return namespace


def pod(kube: Kube, ns: str, name: str, labels=None, annotations=None, **spec) -> dict:
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels or {}, "annotations": annotations or {}},
        "spec": {"restartPolicy": "Never",
                 "containers": [{"name": "main", "image": "registry.invalid/taskaction/sim:1"}], **spec},
    }
    return kube.create(body)


def phase(p):
    return p and p.get("status", {}).get("phase")


def main_state(p) -> dict:
    statuses = p["status"].get("containerStatuses") or []
    assert [s["name"] for s in statuses] == ["main"], statuses
    return statuses[0]["state"]


def condition(p, ctype):
    return next((c for c in p["status"].get("conditions", []) if c["type"] == ctype), None)


# --------------------------------------------------------------------------------- the cluster


def test_two_ready_nodes(kube: Kube):
    # kwok's: the real node of `e2e/cluster.py up --with-node` may be joined too (tainted; the node tier's)
    nodes = [n for n in json.loads(kube.run("get", "nodes", "-o", "json").stdout)["items"]
             if n["metadata"].get("annotations", {}).get("kwok.x-k8s.io/node") == "fake"]
    ready = [n["metadata"]["name"] for n in nodes
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])]
    assert len(ready) == 2, nodes


def test_server_version_and_listeners_on_loopback(kube: Kube):
    version = json.loads(kube.run("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.36.3"
    assert version["clientVersion"]["gitVersion"] == "v1.36.3"
    pids = cluster.cluster_processes()
    assert len(pids) >= 5, pids
    listeners = _listening_addresses(pids)
    assert listeners, "found no listening sockets of the cluster processes"
    bad = [(pid, addr) for pid, addr in listeners if not addr.startswith("127.0.0.1:")]
    assert not bad, f"cluster listens beyond 127.0.0.1: {bad}"


def _listening_addresses(pids) -> list[tuple[int, str]]:
    """(pid, 'ip:port') of every TCP LISTEN socket owned by the given processes (via /proc)."""
    listen: dict[str, str] = {}
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] != "0A":
                continue
            hexip, hexport = f[1].split(":")
            if v6:
                ip = "::1" if hexip == "0" * 24 + "01000000" else ("::" if set(hexip) == {"0"} else hexip)
            else:
                ip = ".".join(str(int(hexip[i:i + 2], 16)) for i in (6, 4, 2, 0))
            listen[f[9]] = f"{ip}:{int(hexport, 16)}"
    out = []
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = fd.readlink().as_posix()
            except OSError:
                continue
            if target.startswith("socket:["):
                inode = target[8:-1]
                if inode in listen:
                    out.append((pid, listen[inode]))
    return out


# --------------------------------------------------------------------------------- outcomes


@pytest.mark.parametrize("labels", [{OUTCOME: "succeed"}, {}], ids=["label-succeed", "label-absent"])
def test_succeed(kube: Kube, ns: str, labels):
    name = f"succeed-{len(labels)}"
    pod(kube, ns, name, labels=labels, annotations={DELAY: "3s"})
    created = time.monotonic()
    running = kube.wait("pod", name, ns, lambda p: phase(p) == "Running", "Running")
    assert "running" in main_state(running)
    assert running["status"].get("podIP", "").startswith("10.244."), running["status"]  # node podCIDRs
    assert condition(running, "Ready")["status"] == "True"
    done = kube.wait("pod", name, ns, lambda p: phase(p) != "Running", "finished")
    took = time.monotonic() - created
    assert phase(done) == "Succeeded", done["status"]
    term = main_state(done)["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")
    assert took >= 2.5, f"delay annotation 3s not honoured: finished after {took:.1f}s"


def test_fail_with_exit_code_and_message(kube: Kube, ns: str):
    pod(kube, ns, "fail-3", labels={OUTCOME: "fail"},
        annotations={EXIT_CODE: "3", MESSAGE: "boom: input file missing", DELAY: "0s"})
    done = kube.wait("pod", "fail-3", ns, lambda p: phase(p) in ("Succeeded", "Failed"), "finished")
    assert phase(done) == "Failed"
    term = main_state(done)["terminated"]
    assert term["exitCode"] == 3
    assert term["reason"] == "Error"
    assert term["message"] == "boom: input file missing"


def test_fail_defaults(kube: Kube, ns: str):
    pod(kube, ns, "fail-default", labels={OUTCOME: "fail"})
    done = kube.wait("pod", "fail-default", ns, lambda p: phase(p) in ("Succeeded", "Failed"), "finished")
    assert phase(done) == "Failed"
    term = main_state(done)["terminated"]
    assert (term["exitCode"], term["reason"]) == (1, "Error")
    assert "message" not in term


def test_oomkilled(kube: Kube, ns: str):
    pod(kube, ns, "oom", labels={OUTCOME: "oomkilled"}, annotations={DELAY: "500ms"})
    done = kube.wait("pod", "oom", ns, lambda p: phase(p) in ("Succeeded", "Failed"), "finished")
    assert phase(done) == "Failed"
    term = main_state(done)["terminated"]
    assert (term["exitCode"], term["reason"]) == (137, "OOMKilled")


def test_imagepullbackoff_stays_pending_without_looping(kube: Kube, ns: str):
    pod(kube, ns, "pull", labels={OUTCOME: "imagepullbackoff"})
    p = kube.wait("pod", "pull", ns, lambda p: p and "waiting" in (p["status"].get("containerStatuses") or [{}])[0].get("state", {}),
                  "waiting")
    assert phase(p) == "Pending"
    assert p["spec"].get("nodeName"), "pod should be scheduled"
    assert main_state(p)["waiting"]["reason"] == "ImagePullBackOff"
    assert condition(p, "Ready")["status"] == "False"
    # the stage must not re-fire on its own update (that would rewrite the status forever)
    rv = p["metadata"]["resourceVersion"]
    time.sleep(3)
    later = kube.get("pod", "pull", ns)
    assert later["metadata"]["resourceVersion"] == rv, "imagepullbackoff stage keeps rewriting the pod"
    assert phase(later) == "Pending"


def test_running_stays_running(kube: Kube, ns: str):
    pod(kube, ns, "run", labels={OUTCOME: "running"}, annotations={DELAY: "0s"})
    kube.wait("pod", "run", ns, lambda p: phase(p) == "Running", "Running")
    time.sleep(3)
    p = kube.get("pod", "run", ns)
    assert phase(p) == "Running"
    assert main_state(p)["running"]
    assert condition(p, "Ready")["status"] == "True"


def test_restart_policy_always_without_label_stays_running(kube: Kube, ns: str):
    pod(kube, ns, "server", restartPolicy="Always")
    kube.wait("pod", "server", ns, lambda p: phase(p) == "Running", "Running")
    time.sleep(2.5)  # default delay is 1s
    assert phase(kube.get("pod", "server", ns)) == "Running"


def test_unknown_outcome_fails_loudly(kube: Kube, ns: str):
    pod(kube, ns, "typo", labels={OUTCOME: "suceed"})
    done = kube.wait("pod", "typo", ns, lambda p: phase(p) in ("Succeeded", "Failed"), "finished")
    assert phase(done) == "Failed"
    assert "suceed" in main_state(done)["terminated"]["message"]


def test_unschedulable_via_node_selector(kube: Kube, ns: str):
    pod(kube, ns, "nowhere", nodeSelector={"sim.taskaction.dev/no-such-node": "true"})
    p = kube.wait("pod", "nowhere", ns,
                  lambda p: (condition(p, "PodScheduled") or {}).get("reason") == "Unschedulable", "Unschedulable")
    assert condition(p, "PodScheduled")["status"] == "False"
    assert phase(p) == "Pending"
    assert not p["spec"].get("nodeName")


def test_job_pod_completes_and_job_succeeds(kube: Kube, ns: str):
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "job", "namespace": ns},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never", "containers": [{"name": "main", "image": "registry.invalid/taskaction/sim:1"}]}}},
    }
    kube.create(job)
    done = kube.wait("job", "job", ns, lambda j: any(c["type"] in ("Complete", "Failed") and c["status"] == "True"
                                                      for c in (j or {}).get("status", {}).get("conditions", [])),
                     "finished")
    assert done["status"].get("succeeded") == 1, done["status"]


# --------------------------------------------------------------------------------- deletion / GC


def test_delete_running_pod(kube: Kube, ns: str):
    pod(kube, ns, "doomed", labels={OUTCOME: "running"})
    kube.wait("pod", "doomed", ns, lambda p: phase(p) == "Running", "Running")
    kube.run("delete", "pod", "doomed", "-n", ns, "--wait=false")  # default 30s grace period
    kube.wait("pod", "doomed", ns, lambda p: p is None, "deleted", timeout=15)


@pytest.mark.parametrize("cascade", ["background", "foreground"])
def test_garbage_collection_of_owned_pod(kube: Kube, ns: str, cascade: str):
    owner = kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": f"owner-{cascade}", "namespace": ns}, "data": {"k": "v"}})
    name = f"owned-{cascade}"
    pod(kube, ns, name, labels={OUTCOME: "running"})
    # ownerReference added after creation, as an operator adopting a pod would
    kube.run("patch", "pod", name, "-n", ns, "--type=merge", "-p", json.dumps({"metadata": {"ownerReferences": [{
        "apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"], "blockOwnerDeletion": True}]}}))
    kube.wait("pod", name, ns, lambda p: phase(p) == "Running", "Running")
    kube.run("delete", "configmap", owner["metadata"]["name"], "-n", ns, f"--cascade={cascade}", "--wait=false")
    kube.wait("pod", name, ns, lambda p: p is None, "garbage-collected")
    kube.wait("configmap", owner["metadata"]["name"], ns, lambda c: c is None, "deleted")
