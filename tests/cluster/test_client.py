"""The control-plane client (taskaction_operator.client) against the real control plane and the operator: runs
created through the library, the `taskaction` CLI as a subprocess, abort, signals, inputs and outputs in S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from flyteidl2.common import phase_pb2
from flyteidl2.core import types_pb2

from taskaction_operator.client import runs
from taskaction_operator.client.kube import ClientApi, connect
from taskaction_operator.client.manifests import container_template
from taskaction_operator.storage.filesystems import close_filesystems
from tests.support.kube import Kube, is_true, progressing_reason
from tests.support.seaweedfs import SeaweedFS

SUCCEED = {"sim.taskaction.dev/outcome": "succeed"}
RUNNING = {"sim.taskaction.dev/outcome": "running"}
TEMPLATE = container_template("busybox", ["echo", "hi"])


@pytest.fixture
async def api(kube: Kube, crd: None) -> AsyncIterator[ClientApi]:
    client = await connect(kube.kubeconfig)
    yield client
    await client.close()


def cli(kube: Kube, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": kube.kubeconfig}
    return subprocess.run(
        [sys.executable, "-m", "taskaction_operator.client.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


async def make_run(api: ClientApi, namespace: str, run: str, labels: dict[str, str]) -> None:
    await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels=labels, env_vars={"FROM_RUN": "1"}, annotations={"team": "ml"})
    await runs.create_child(api, TEMPLATE, run=run, action="left", namespace=namespace)
    await runs.create_child(api, TEMPLATE, run=run, action="right", parent="left", namespace=namespace, env_vars={"FROM_RUN": "own"})


async def test_a_run_with_two_children_has_the_actions_service_owner_references(api: ClientApi, kube: Kube, operator, namespace: str) -> None:
    await make_run(api, namespace, "lib", RUNNING)
    root = kube.get("taskaction", "lib-a0", namespace)
    left = kube.get("taskaction", "lib-left", namespace)
    right = kube.get("taskaction", "lib-right", namespace)
    assert root["metadata"]["labels"] == {
        "flyte.org/project": "demo", "flyte.org/domain": "development", "flyte.org/run": "lib", "flyte.org/action": "a0",
        "flyte.org/action-type": "task", "flyte.org/is-root": "true", **RUNNING,
    }
    assert "ownerReferences" not in root["metadata"]
    for child, parent in ((left, root), (right, left)):
        assert child["metadata"]["ownerReferences"] == [
            {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": parent["metadata"]["name"], "uid": parent["metadata"]["uid"], "blockOwnerDeletion": True}
        ]
        assert child["metadata"]["labels"]["flyte.org/is-root"] == "false"
        assert child["metadata"]["labels"]["sim.taskaction.dev/outcome"] == "running"
        assert child["metadata"]["annotations"]["team"] == "ml"
    assert left["spec"]["envVars"] == {"FROM_RUN": "1"}
    assert right["spec"]["envVars"] == {"FROM_RUN": "own"}
    assert left["metadata"]["labels"]["flyte.org/action"] == "left"
    with pytest.raises(runs.NotFound, match="lib-nope"):
        await runs.create_child(api, TEMPLATE, run="lib", action="x", parent="nope", namespace=namespace)
    for name in ("lib-a0", "lib-left", "lib-right"):
        kube.wait("taskaction", name, namespace, lambda o: progressing_reason(o) == "Executing", "Executing")
    tree = await runs.get_run(api, "lib", namespace)
    assert [(depth, node.action) for depth, node in tree.walk()] == [(0, "a0"), (1, "left"), (2, "right")]
    assert tree.phase == phase_pb2.ACTION_PHASE_RUNNING

    # abort: the root goes, the garbage collector takes the children and the pods
    assert await runs.abort(api, "lib", namespace)
    deadline = time.monotonic() + 90
    while kube.list("taskactions", namespace, "flyte.org/run=lib") or kube.list("pods", namespace, "run=lib"):
        if time.monotonic() > deadline:
            pytest.fail("the aborted run's TaskActions or pods are still there")
        time.sleep(0.5)
