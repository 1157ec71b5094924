"""The operator's scope. Cluster-wide (no TASKACTION_NAMESPACES, the chart's default) it runs actions in any namespace,
one created after it started included. Given a list of namespaces it watches each by name (controller/handlers.py,
startup): one (re)started while a watched namespace is being deleted still releases the actions holding it, and one
started before its CRD waits for the CRD (controller/discovery.py)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

from taskaction_operator.api import constants as c
from taskaction_operator.client.manifests import container_template, taskaction
from taskaction_operator.controller.discovery import wait_until_served
from taskaction_operator.kube import connect
from tests.support.kube import Kube, install_crd, is_true
from tests.support.operator_process import OperatorProcess
from tests.support.own_cluster import own_cluster
from tests.support.waiting import wait_until

COUNT = 3


def test_a_cluster_wide_operator_runs_actions_in_a_namespace_made_after_it_started(tmp_path: Path) -> None:
    # On a cluster of its own: on the shared one it would also run the actions of every other run there.
    with own_cluster("scope") as kube:
        install_crd(kube)
        operator = OperatorProcess(kube.kubeconfig, [], tmp_path / "operator.log", {"TASKACTION_READ_OUTPUTS": "false"})
        operator.start()
        try:
            time.sleep(2)  # the operator is watching before the namespace exists
            namespace = f"ta-cw-{uuid.uuid4().hex[:8]}"
            kube.run("create", "namespace", namespace)
            kube.create(taskaction(container_template("busybox", ["true"]), run="anywhere", namespace=namespace, labels={"sim.taskaction.dev/outcome": "succeed"}))
            kube.wait("taskaction", "anywhere-a0", namespace, lambda ta: is_true(ta, "Succeeded"), "Succeeded", timeout=90)
            assert operator.proc is not None and operator.proc.poll() is None, operator.log()
        finally:
            operator.stop()


def _namespace_gone(kube: Kube, name: str) -> bool:
    proc = kube.run("get", "namespace", name, "-o", "json", check=False)
    if proc.returncode != 0 and "NotFound" in proc.stderr:
        return True
    assert proc.returncode == 0, proc.stderr
    return False


def test_an_operator_restarted_while_its_namespace_terminates_lets_the_namespace_go(kube: Kube, crd: None, tmp_path: Path) -> None:
    namespace = f"ta-term-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", namespace)
    operator = OperatorProcess(kube.kubeconfig, [namespace], tmp_path / "operator.log")
    operator.start()
    try:
        for i in range(COUNT):
            # kwok keeps these pods Running: the actions are mid-flight, each held by the operator's finalizer.
            kube.create(taskaction(container_template("busybox", ["sleep", "600"]), run=f"held-{i}", namespace=namespace, labels={"sim.taskaction.dev/outcome": "running"}))
        for i in range(COUNT):
            kube.wait("pod", f"held-{i}-a0-0", namespace, lambda pod: pod is not None, "created")
            kube.wait("taskaction", f"held-{i}-a0", namespace, lambda ta: c.FINALIZER in ta["metadata"].get("finalizers", []), "finalized")
        operator.kill9()

        kube.run("delete", "namespace", namespace, "--wait=false")
        wait_until(
            lambda: all(ta["metadata"].get("deletionTimestamp") for ta in kube.list("taskactions", namespace)),
            60, "the namespace controller did not delete the actions", interval=0.5,
        )  # fmt: skip
        assert len(kube.list("taskactions", namespace)) == COUNT  # held by the finalizer, no operator running

        operator.start()

        def report() -> str:
            left = [(ta["metadata"]["name"], ta["metadata"].get("finalizers")) for ta in kube.list("taskactions", namespace)]
            return f"namespace {namespace} still there after the restart; actions left: {left}\noperator log:\n{operator.log()}"

        wait_until(lambda: _namespace_gone(kube, namespace), 90, report, interval=1)
    finally:
        operator.stop()
        kube.run("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")


def _crd(group: str) -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}],
        },
    }


async def test_waiting_for_a_resource_returns_once_its_crd_is_served(kube: Kube) -> None:
    group = f"w{uuid.uuid4().hex[:8]}.taskaction.dev"
    api = await connect(kube.kubeconfig)
    try:
        assert await api.served_resources(group, "v1") == set()
        waiting = asyncio.create_task(wait_until_served(api, group, "v1", "widgets", interval=0.2))
        await asyncio.sleep(1.0)
        assert not waiting.done()  # nothing served yet: still waiting
        await asyncio.to_thread(kube.run, "create", "-f", "-", input=json.dumps(_crd(group)))
        try:
            await asyncio.wait_for(waiting, 60)
            assert "widgets" in await api.served_resources(group, "v1")
        finally:
            await asyncio.to_thread(kube.run, "delete", "crd", f"widgets.{group}", "--wait=false")
    finally:
        await api.close()
