"""`helm test`: the chart's test pod submits a TaskAction and follows it to its end.

kwok never runs a container: its pods succeed without running anything. So the test pod's command, as the release
stores it, also runs here as a local process with a token of the test's own ServiceAccount (its hook RBAC, applied
from the release's hooks), against the real operator: it exits 0 when the TaskAction succeeds and 1 when it fails.
`helm test` itself then proves the hooks' wiring: created in order, the pod completed, the objects deleted after."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.e2e.helm import CHART, CRD_NOT_INSTALLED, Helm, one
from tests.e2e.test_rbac import local_operator_env, sa_kubeconfig
from tests.support.kube import Kube
from tests.support.operator_process import running_operator


def test_helm_test_runs_a_taskaction_to_its_end(
    helm: Helm, kube: Kube, crd: None, new_namespace: Callable[..., str], releases: list[tuple[str, str]], tmp_path: Path
) -> None:
    op_ns, work_ns = new_namespace("e2e-ht-op"), new_namespace("e2e-ht-work")
    release = f"ht-{op_ns.rsplit('-', 1)[1]}"
    releases.append((release, op_ns))
    helm.run("install", release, str(CHART), "--namespace", op_ns, *CRD_NOT_INSTALLED, "--set", f"watchNamespaces={{{work_ns}}}",
             "--wait", "--timeout", "120s", timeout=180)
    hooks = [d for d in yaml.safe_load_all(helm.run("get", "hooks", release, "--namespace", op_ns).stdout) if d]
    pod = one(hooks, "Pod")
    rbac = [d for d in hooks if d["kind"] != "Pod"]
    kube.run("apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in rbac))
    account = pod["spec"]["serviceAccountName"]
    config = sa_kubeconfig(kube, op_ns, account, tmp_path / "test-sa.kubeconfig")
    command = pod["spec"]["containers"][0]["command"]
    assert command[0] == "taskaction" and f"--namespace={work_ns}" in command

    def test_pod(*extra: str) -> subprocess.CompletedProcess:
        """The pod's command here; `extra` go before its `--`."""
        split = command.index("--")
        argv = [sys.executable, "-m", "taskaction_operator.client.cli", *command[1:split], *extra, *command[split:]]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env={**os.environ, "KUBECONFIG": str(config)})

    with running_operator(kube, work_ns, tmp_path / "operator.log", {**local_operator_env(helm, release, op_ns, "ht"), "TASKACTION_READ_OUTPUTS": "false"}) as operator:
        passed = test_pod()
        assert passed.returncode == 0, f"{passed.stdout}\n{passed.stderr}\noperator log:\n{operator.log()}"
        assert last_phase(passed.stdout) == "SUCCEEDED", passed.stdout
        failed = test_pod("--label=sim.taskaction.dev/outcome=fail")
        assert failed.returncode == 1 and last_phase(failed.stdout) == "FAILED", f"{failed.stdout}\n{failed.stderr}"

        proc = helm.run("test", release, "--namespace", op_ns, "--timeout", "120s", timeout=180)
        assert "Phase:          Succeeded" in proc.stdout, proc.stdout
    # hook-succeeded: nothing of the test is left.
    assert kube.get("serviceaccount", account, op_ns) is None and kube.get("pod", pod["metadata"]["name"], op_ns) is None
    assert kube.get("role", account, work_ns) is None



def last_phase(out: str) -> str:
    """The run's phase in the last tree `watch` printed (`run NAME (NS): PHASE`)."""
    return [line for line in out.splitlines() if line.startswith("run ") and ": " in line][-1].rsplit(": ", 1)[1]
