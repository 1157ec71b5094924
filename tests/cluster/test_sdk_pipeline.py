"""A child's error reaches its parent through the actions service: the real Flyte SDK drives the run through the
operator, and the kubelet stand-in (tests/support/kubelet_standin.py) runs its pods as local processes, with the pod's
env the operator filled from its settings (storage, and the control plane: _U_EP_OVERRIDE -> http:// the operator's
actions service, _U_USE_ACTIONS=1) and the pod's projected token for the service, which the SDK sends (FLYTE_AUTH_TYPE
ExternalCommand): the service checks it as in production. `pipeline(x)`'s success, its tree and its deletion are proved in
containers by tests/node/test_sdk_pipeline.py; this failure path is not yet, so it stays here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.storage.sdk_tasks import child_failure as child_failure_module
from tests.storage.sdk_tasks import pipeline as pipeline_module
from tests.support.kube import Kube, is_true
from tests.support.kubelet_standin import KubeletStandIn
from tests.support.operator_process import OperatorProcess, running_operator, wait_for_port
from tests.support.ports import free_ports
from tests.support.seaweedfs import SeaweedFS
from tests.support.waiting import wait_until

PIPELINE_FILE = Path(pipeline_module.__file__)
CHILD_FAILURE_FILE = Path(child_failure_module.__file__)
PROJECT, DOMAIN = "flytesnacks", "development"
RUN_TIMEOUT = 240.0
STAND_IN = {"sim.taskaction.dev/outcome": "running"}  # kwok leaves these pods Running: the stand-in ends them


@pytest.fixture(scope="module")
def service_address() -> str:
    return f"127.0.0.1:{free_ports(1)[0]}"


@pytest.fixture(scope="module")
def operator(
    kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], seaweedfs: SeaweedFS, service_address: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    pod_env = {**seaweedfs.flyte_env(), "_U_EP_OVERRIDE": f"http://{service_address}", "_U_USE_ACTIONS": "1"}
    env = {
        **storage_env,
        "TASKACTION_ACTIONS_SERVICE_ADDRESS": service_address,
        "TASKACTION_ACTIONS_SERVICE_NAMESPACE": namespace,
        "TASKACTION_DEFAULT_ENV_VARS": json.dumps(pod_env),
    }
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator") / "operator.log", env) as process:
        wait_for_port(service_address, process)
        yield process


def taskaction_cli(kube: Kube, storage_env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": kube.kubeconfig, **storage_env}
    return subprocess.run([sys.executable, "-m", "taskaction_operator.client.cli", *args], capture_output=True, text=True, timeout=180, env=env)


def submit_sdk_run(
    kube: Kube, storage_env: dict[str, str], seaweedfs: SeaweedFS, namespace: str, task_file: Path, task: str, inputs: str
) -> str:
    """`taskaction submit -f` of a task file; its pods are left Running by kwok, for the kubelet stand-in. The run's name."""
    run = f"r{uuid.uuid4().hex[:12]}"
    submitted = taskaction_cli(
        kube, storage_env, "submit", "-n", namespace, "-f", str(task_file), "--task", task, "-i", inputs,
        "--run", run, "--project", PROJECT, "--domain", DOMAIN, "--storage", f"s3://{seaweedfs.bucket}",
        "--label", "sim.taskaction.dev/outcome=running",
    )
    assert submitted.returncode == 0, submitted.stderr
    assert f"taskaction/{run}-a0 created in {namespace}" in submitted.stdout
    return run


def run_report(kube: Kube, namespace: str, run: str, kubelet: KubeletStandIn, operator: OperatorProcess) -> Callable[[], str]:
    def report() -> str:
        actions = kube.list("taskaction", namespace, f"flyte.org/run={run}")
        status = [(a["metadata"]["name"], (a.get("status") or {}).get("conditions"), (a.get("status") or {}).get("errorState")) for a in actions]
        lines = [f"{name}: {json.dumps(conditions)[:600]} {json.dumps(error)[:600]}" for name, conditions, error in status]
        return "\n".join(lines) + f"\n--- kubelet stand-in:\n{kubelet.report()}\n--- operator log:\n{operator.log()[-3000:]}"

    return report


def ended_run(kube: Kube, namespace: str, run: str, condition: str, report: Callable[[], str]) -> dict[str, dict]:
    """Once the run's root has `condition` (Succeeded, Failed): the run's TaskActions by action name."""
    wait_until(lambda: is_true(kube.get("taskaction", f"{run}-a0", namespace), condition), RUN_TIMEOUT, lambda: f"not {condition}\n{report()}", interval=0.5)
    return {a["spec"]["actionName"]: a for a in kube.list("taskaction", namespace, f"flyte.org/run={run}")}


def test_a_childs_error_reaches_its_parent_and_fails_the_run(
    kube: Kube, namespace: str, operator: OperatorProcess, seaweedfs: SeaweedFS, storage_env: dict[str, str], tmp_path: Path
) -> None:
    """guarded(x) awaits explode(x), which raises: the child fails with the SDK's error.pb, WatchForUpdates hands
    that error to the parent's SDK, which raises it in turn, so the root fails with the child's message."""
    with KubeletStandIn(kube, namespace, tmp_path / "kubelet") as kubelet:
        run = submit_sdk_run(kube, storage_env, seaweedfs, namespace, CHILD_FAILURE_FILE, "guarded", "x=3")
        report = run_report(kube, namespace, run, kubelet, operator)
        actions = ended_run(kube, namespace, run, "Failed", report)
        root = actions.pop("a0")
        (child,) = actions.values()
        assert child["spec"]["shortName"] == "explode" and is_true(child, "Failed"), report()
        assert "tokens checked" in operator.log(), "the actions service ran without authentication"  # so the SDK sent them
        child_error, root_error = child["status"]["errorState"], root["status"]["errorState"]
        assert child_error["kind"] == "USER" and "cannot take 3" in child_error["message"], child_error
        assert root_error["kind"] == "USER" and "cannot take 3" in root_error["message"], root_error

        # The run has ended: `watch` prints its tree once and exits with its outcome.
        watched = taskaction_cli(kube, storage_env, "watch", "-n", namespace, run)
        assert watched.returncode == 1 and f"run {run} ({namespace}): FAILED" in watched.stdout, (watched.returncode, watched.stdout, watched.stderr)
