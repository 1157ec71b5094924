"""The control-plane client (taskaction_operator.client) against the real control plane and the operator: runs
created through the library, the `taskaction` CLI as a subprocess, abort, signals, inputs and outputs in S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from flyteidl2.common import phase_pb2
from flyteidl2.core import types_pb2

from taskaction_operator.client import action_io, action_phase, errors, manifests, runs, signals, trees
from taskaction_operator.kube import KubeApi, connect
from taskaction_operator.client.manifests import container_template
from taskaction_operator.storage.filesystems import close_filesystems
from tests.support.kube import Kube, is_true, progressing_reason
from tests.support.seaweedfs import SeaweedFS
from tests.support.waiting import wait_until

SUCCEED = {"sim.taskaction.dev/outcome": "succeed"}
RUNNING = {"sim.taskaction.dev/outcome": "running"}
TEMPLATE = container_template("busybox", ["echo", "hi"])


@pytest.fixture
async def api(kube: Kube, crd: None) -> AsyncIterator[KubeApi]:
    client = await connect(kube.kubeconfig)
    yield client
    await client.close()


def cli(kube: Kube, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": kube.kubeconfig}
    return subprocess.run(
        [sys.executable, "-m", "taskaction_operator.client.cli", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


async def make_run(api: KubeApi, namespace: str, run: str, labels: dict[str, str]) -> None:
    await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels=labels, env_vars={"FROM_RUN": "1"}, annotations={"team": "ml"})
    await runs.create_child(api, TEMPLATE, run=run, action="left", namespace=namespace)
    await runs.create_child(api, TEMPLATE, run=run, action="right", parent="left", namespace=namespace, env_vars={"FROM_RUN": "own"})


async def test_a_run_with_two_children_has_the_actions_service_owner_references(api: KubeApi, kube: Kube, operator, namespace: str) -> None:
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
    with pytest.raises(errors.NotFound, match="lib-nope"):
        await runs.create_child(api, TEMPLATE, run="lib", action="x", parent="nope", namespace=namespace)
    for name in ("lib-a0", "lib-left", "lib-right"):
        kube.wait("taskaction", name, namespace, lambda o: progressing_reason(o) == "Executing", "Executing")
    tree = await trees.get_run(api, "lib", namespace)
    assert [(depth, node.action) for depth, node in tree.walk()] == [(0, "a0"), (1, "left"), (2, "right")]
    assert tree.phase == phase_pb2.ACTION_PHASE_RUNNING

    # abort: the root goes, the garbage collector takes the children and the pods
    assert await runs.abort(api, "lib", namespace)
    wait_until(
        lambda: not (kube.list("taskactions", namespace, "flyte.org/run=lib") or kube.list("pods", namespace, "run=lib")),
        90, "the aborted run's TaskActions or pods are still there", interval=0.5,
    )  # fmt: skip


async def test_tree_and_watch_commands_show_every_action_and_end_with_success(api: KubeApi, kube: Kube, operator, namespace: str) -> None:
    # Every pod is held Running (kwok) until the watch has shown its first snapshot, so that the snapshot and the
    # live updates after it are told apart whatever the machine's load.
    proc = cli(kube, "submit", "-n", namespace, "--image", "busybox", "--run", "clirun", "--label", "sim.taskaction.dev/outcome=running", "--", "echo", "hi")
    assert proc.returncode == 0, proc.stderr
    assert "taskaction/clirun-a0 created" in proc.stdout
    await runs.create_child(api, TEMPLATE, run="clirun", action="first", namespace=namespace)
    proc = cli(kube, "submit", "-n", namespace, "--image", "busybox", "--run", "clirun", "--action", "second", "--parent", "first", "--", "true")
    assert proc.returncode == 0, proc.stderr

    env = {**os.environ, "KUBECONFIG": kube.kubeconfig}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "taskaction_operator.client.cli", "watch", "clirun", "-n", namespace], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        first_block = []
        for line in watcher.stdout:  # type: ignore[union-attr]
            if not line.strip():
                break
            first_block.append(line)
        assert first_block and "SUCCEEDED" not in first_block[0], first_block
        for name in ("clirun-a0-0", "clirun-first-0", "clirun-second-0"):
            kube.wait("pod", name, namespace, lambda o: o is not None, "created")
            kube.run("label", "pod", name, "-n", namespace, "--overwrite", "sim.taskaction.dev/outcome=succeed")
        rest, _ = watcher.communicate(timeout=120)
    finally:
        watcher.kill()
    assert watcher.returncode == 0, rest
    stdout = "".join(first_block) + "\n" + rest
    for action in ("a0", "first", "second"):
        assert action in stdout
    blocks = stdout.strip().split("\n\n")
    assert blocks[-1].splitlines()[0] == f"run clirun ({namespace}): SUCCEEDED"
    assert len(blocks) > 1  # a snapshot first, then live updates to the end

    for name in ("clirun-first", "clirun-second"):
        kube.wait("taskaction", name, namespace, lambda o: is_true(o, "Succeeded"), "Succeeded", timeout=60)
    tree = cli(kube, "tree", "clirun", "-n", namespace)
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    assert lines[0] == f"run clirun ({namespace}): SUCCEEDED"
    assert [line.split()[0:2] for line in lines[1:]] == [["a0", "SUCCEEDED"], ["first", "SUCCEEDED"], ["second", "SUCCEEDED"]]
    assert lines[2].startswith("    first") and lines[3].startswith("      second")
    data = json.loads(cli(kube, "tree", "clirun", "-n", namespace, "-o", "json").stdout)
    assert [(a["action"], a["parent"], a["phase"]) for a in data["actions"]] == [
        ("a0", None, "SUCCEEDED"), ("first", "a0", "SUCCEEDED"), ("second", "first", "SUCCEEDED")
    ]
    failed = cli(kube, "tree", "nosuchrun", "-n", namespace)
    assert failed.returncode == 2 and "no TaskAction of run 'nosuchrun'" in failed.stderr


async def test_signal_a_condition_then_refuse_a_different_value(api: KubeApi, kube: Kube, operator, namespace: str) -> None:
    await runs.create_run(api, TEMPLATE, run="hitl", namespace=namespace, labels=RUNNING)
    created = await runs.create_condition(api, run="hitl", action="approve", namespace=namespace, simple_type=types_pb2.BOOLEAN)
    assert created["metadata"]["labels"]["flyte.org/action-type"] == "condition"
    assert len(created["metadata"]["ownerReferences"]) == 1
    kube.wait("taskaction", "hitl-approve", namespace, lambda o: progressing_reason(o) == "Paused", "Paused")
    with pytest.raises(errors.SignalRefused, match="expects a BOOLEAN, not a integer"):
        await signals.signal(api, "hitl-approve", 3, "bob", namespace)
    with pytest.raises(errors.SignalRefused, match="not a condition action"):
        await signals.signal(api, "hitl-a0", True, "bob", namespace)

    proc = cli(kube, "signal", "hitl-approve", "true", "--by", "alice@example.com", "-n", namespace)
    assert proc.returncode == 0, proc.stderr
    ta = kube.wait("taskaction", "hitl-approve", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    assert ta["status"]["signalledBy"] == "alice@example.com"
    assert action_phase.phase_of(ta) == phase_pb2.ACTION_PHASE_SUCCEEDED
    again = cli(kube, "signal", "hitl-approve", "true", "-n", namespace)
    assert again.returncode == 0, again.stderr  # the same value: idempotent
    refused = cli(kube, "signal", "hitl-approve", "false", "-n", namespace)
    assert refused.returncode == 2
    assert "already signalled with True by alice@example.com" in refused.stderr
    assert kube.get("taskaction", "hitl-approve", namespace)["status"]["signalledBy"] == "alice@example.com"
    await runs.abort(api, "hitl", namespace)


async def test_inputs_and_outputs_round_trip_through_s3(
    api: KubeApi, kube: Kube, operator, namespace: str, seaweedfs: SeaweedFS, storage_env: dict[str, str]
) -> None:
    settings = seaweedfs.settings()
    uri = f"s3://{seaweedfs.bucket}/demo/development/io/inputs"
    try:
        path = await action_io.write_inputs(uri, settings=settings, n=5, x=2.5, who="ada", ok=True)
        assert path == uri + "/inputs.pb"
        from flyteidl2.task import common_pb2

        inputs = common_pb2.Inputs.FromString(seaweedfs.s3fs().cat(path))
        assert [(n.name, n.value.scalar.primitive.WhichOneof("value")) for n in inputs.literals] == [
            ("n", "integer"), ("x", "float_value"), ("who", "string_value"), ("ok", "boolean")
        ]
        # outputs.pb is an Outputs message of the same literals: read back as Python values
        body = manifests.root_body(TEMPLATE, run="io", namespace=namespace, project="demo", domain="development", storage=f"s3://{seaweedfs.bucket}", labels=SUCCEED)
        prefix = action_io.output_uri({**body, "status": {}})
        outputs = common_pb2.Outputs(literals=list(action_io.inputs_message(total=7, name="done", ratio=0.5, ok=False).literals))
        seaweedfs.s3fs().pipe(f"{prefix}/outputs.pb", outputs.SerializeToString())
        assert await action_io.read_outputs(prefix, settings=settings) == {"total": 7, "name": "done", "ratio": 0.5, "ok": False}
        with pytest.raises(errors.NotFound):
            await action_io.read_outputs(prefix + "-missing", settings=settings)
    finally:
        await close_filesystems()

    # the action succeeds (the operator finds outputs.pb) and the CLI reads its outputs with the store's settings
    await runs.submit(api, body)
    ta = kube.wait("taskaction", "io-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded", timeout=60)
    assert action_io.output_uri(ta) == prefix
    env_cli = subprocess.run(
        [sys.executable, "-m", "taskaction_operator.client.cli", "outputs", "io-a0", "-n", namespace, "-o", "json"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "KUBECONFIG": kube.kubeconfig, **storage_env},
    )
    assert env_cli.returncode == 0, env_cli.stderr
    assert json.loads(env_cli.stdout) == {"uri": prefix, "outputs": {"total": 7, "name": "done", "ratio": 0.5, "ok": False}}


def test_wait_and_rerun_commands(kube: Kube, operator, namespace: str) -> None:
    proc = cli(kube, "submit", "-n", namespace, "--image", "busybox", "--run", "waited", "--label", "sim.taskaction.dev/outcome=fail", "-o", "name", "--", "false")
    assert (proc.returncode, proc.stdout) == (0, "taskaction/waited-a0\n"), proc.stderr
    proc = cli(kube, "wait", "waited", "-n", namespace, "--timeout", "90")
    assert (proc.returncode, proc.stdout) == (1, "run waited: FAILED\n"), proc.stderr
    # Run again: the same task and labels (so kwok fails it again), a new run.
    proc = cli(kube, "rerun", "waited", "--run", "rewaited", "-n", namespace, "-o", "name")
    assert (proc.returncode, proc.stdout) == (0, "taskaction/rewaited-a0\n"), proc.stderr
    again = kube.get("taskaction", "rewaited-a0", namespace)
    assert again["spec"]["runOutputBase"].endswith("/rewaited/") and again["metadata"]["labels"]["sim.taskaction.dev/outcome"] == "fail"
    assert cli(kube, "wait", "rewaited", "-n", namespace, "--timeout", "90").returncode == 1
    proc = cli(kube, "submit", "-n", namespace, "--image", "busybox", "--run", "held", "--label", "sim.taskaction.dev/outcome=running", "--", "true")
    assert proc.returncode == 0, proc.stderr
    proc = cli(kube, "wait", "held", "-n", namespace, "--timeout", "2")
    assert proc.returncode == 3 and proc.stdout.startswith("run held: still "), proc.stdout + proc.stderr
    proc = cli(kube, "submit", "-n", namespace, "--image", "busybox", "--label", "sim.taskaction.dev/outcome=succeed", "--watch", "--", "true")
    assert proc.returncode == 0 and "): SUCCEEDED" in proc.stdout, proc.stdout + proc.stderr
