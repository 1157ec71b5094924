"""`helm upgrade` from the previous chart version, with TaskActions running: the upgrade applies the new CRD (a
template now; the previous chart had it in crds/, which helm never upgrades), the old operator stops, the new one
takes its actions over, and none is lost or restarted (same pod, same attempt, all end Succeeded). Then an upgrade
with crds.install=false and `helm uninstall` leave the CRD and the TaskActions (helm.sh/resource-policy: keep).

On a kwok cluster of its own: the test owns the CRD through its release, which the shared cluster's releases must not
(tests/e2e/helm.py CRD_NOT_INSTALLED). The previous chart and operator are taken from git at PREVIOUS, and each
operator runs as a local process with its chart's environment, as in test_rbac.py."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from taskaction_operator.client.manifests import container_template, taskaction
from tests.e2e.helm import CHART, REPO, Helm
from tests.e2e.test_rbac import local_operator_env
from tests.support.kube import Kube, is_true, progressing_reason
from tests.support.operator_process import OperatorProcess
from tests.support.own_cluster import own_cluster

# Chart 0.1.0, the last with the CRD in crds/, and its operator.
PREVIOUS = "c036476"
CRD_NAME = "taskactions.flyte.org"
ACTIONS = 3
# kwok keeps the pods Running until then (annotation sim.taskaction.dev/delay as a timestamp), across the upgrade.
RUNNING_FOR = dt.timedelta(seconds=60)


def from_git(commit: str, path: str, into: Path) -> Path:
    """The tree `path` at `commit`, written under `into`."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit, path], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into / path


@pytest.fixture(scope="module")
def upgrade_cluster() -> Iterator[Kube]:
    with own_cluster("upgrade") as kube:
        yield kube


def test_helm_upgrade_from_the_previous_chart_applies_the_crd_and_keeps_running_actions(
    upgrade_cluster: Kube, helm_bin: str, tmp_path: Path
) -> None:
    kube = upgrade_cluster
    helm = Helm(helm_bin, kube.kubeconfig, tmp_path / "helm-home")
    old = from_git(PREVIOUS, "charts/taskaction-operator", tmp_path / "previous")
    old_operator = from_git(PREVIOUS, "operator", tmp_path / "previous")
    old_version = yaml.safe_load((old / "Chart.yaml").read_text())["version"]
    new_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["version"]
    assert Version(new_version) > Version(old_version), "the chart changed: its version must be higher than the previous one's"
    assert (old / "crds").is_dir() and not (CHART / "crds").exists()

    op_ns, work_ns, release = "taskaction-system", "work", "ta"
    for ns in (op_ns, work_ns):
        kube.run("create", "namespace", ns)
    values = ["--namespace", op_ns, "--set", f"watchNamespaces={{{work_ns}}}", "--wait", "--timeout", "120s"]
    helm.run("install", release, str(old), *values, timeout=180)
    kube.run("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    assert "helm.sh/chart" not in (kube.get("crd", CRD_NAME, "default")["metadata"].get("labels") or {})

    env = {"TASKACTION_READ_OUTPUTS": "false"}
    operator = OperatorProcess(kube.kubeconfig, [work_ns], tmp_path / "previous-operator.log",
                               {**local_operator_env(helm, release, op_ns, "previous"), **env, "PYTHONPATH": str(old_operator)})
    operator.start()
    until = (dt.datetime.now(dt.timezone.utc) + RUNNING_FOR).strftime("%Y-%m-%dT%H:%M:%SZ")
    names = [f"up{i}-a0" for i in range(ACTIONS)]
    try:
        for i in range(ACTIONS):
            kube.create(taskaction(container_template("busybox", ["true"]), run=f"up{i}", namespace=work_ns,
                                   annotations={"sim.taskaction.dev/delay": until}))
        pods = {}
        for name in names:
            kube.wait("taskaction", name, work_ns, lambda o: progressing_reason(o) == "Executing", "Executing", timeout=60)
            pods[name] = kube.wait("pod", f"{name}-0", work_ns, lambda o: o is not None and o["status"].get("phase") == "Running", "Running")
        attempts = {name: kube.get("taskaction", name, work_ns)["status"]["attempts"] for name in names}
        assert set(attempts.values()) == {1}
    finally:
        operator.stop()  # as the Deployment's rollout stops the old pod (strategy Recreate)

    # The previous chart's CRD has no release: adopted once (docs/upgrade.md), then the template applies it.
    proc = helm.run("upgrade", release, str(CHART), *values, "--take-ownership", timeout=180)
    assert "STATUS: deployed" in proc.stdout, proc.stdout
    crd = kube.get("crd", CRD_NAME, "default")
    assert crd["metadata"]["labels"]["helm.sh/chart"] == f"taskaction-operator-{new_version}"
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    ours = yaml.safe_load((REPO / "crds" / f"{CRD_NAME}.yaml").read_text())
    assert [v["schema"] for v in crd["spec"]["versions"]] == [v["schema"] for v in ours["spec"]["versions"]]

    operator = OperatorProcess(kube.kubeconfig, [work_ns], tmp_path / "operator.log", {**local_operator_env(helm, release, op_ns, "current"), **env})
    operator.start()
    try:
        for name in names:
            done = kube.wait("taskaction", name, work_ns, lambda o: is_true(o, "Succeeded") or is_true(o, "Failed"), "finished",
                             timeout=RUNNING_FOR.total_seconds() + 60)
            assert is_true(done, "Succeeded"), done["status"]
            assert done["status"]["attempts"] == attempts[name]
            assert kube.get("pod", f"{name}-0", work_ns)["metadata"]["uid"] == pods[name]["metadata"]["uid"], f"{name}: its pod was replaced"
            assert kube.get("pod", f"{name}-1", work_ns) is None

        # crds.install=false, then uninstall: the CRD stays, and every TaskAction with it.
        helm.run("upgrade", release, str(CHART), *values, "--set", "crds.install=false", timeout=180)
        helm.run("uninstall", release, "--namespace", op_ns, "--wait", "--timeout", "60s", timeout=90)
        assert kube.get("crd", CRD_NAME, "default") is not None
        assert sorted(o["metadata"]["name"] for o in kube.list("taskactions", work_ns)) == names
    finally:
        kube.run("delete", "taskactions", "--all", "-n", work_ns, "--wait=true", "--timeout=60s", check=False)
        operator.stop()
    log = (tmp_path / "operator.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]

