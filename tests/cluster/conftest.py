"""Fixtures of the cluster tier: the real local control plane (or the cluster KUBECONFIG names), the CRD, a fresh
namespace per module, and the operator running as a process against it. No cluster is a failure, never a skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kube import Kube
from tests.support.local_cluster import cluster as local_cluster
from tests.support.operator_process import OperatorProcess
from tests.support.seaweedfs import SeaweedFS, seaweedfs_fixture

REPO = Path(__file__).resolve().parents[2]
CRD = REPO / "crds" / "taskactions.flyte.org.yaml"



def _usable(kubeconfig: str, kubectl: str) -> bool:
    proc = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "get", "--raw", "/readyz"], capture_output=True, timeout=20)
    return proc.returncode == 0


@pytest.fixture(scope="session")
def kube() -> Kube:
    kubectl = str(local_cluster.BIN_DIR / "kubectl") if (local_cluster.BIN_DIR / "kubectl").exists() else shutil.which("kubectl")
    given = os.environ.get("KUBECONFIG")
    if given and kubectl and _usable(given, kubectl):
        return Kube(given, kubectl)
    proc = subprocess.run([sys.executable, str(REPO / "e2e" / "cluster.py"), "up"], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        pytest.fail(f"the local cluster did not come up (e2e/cluster.py up, exit {proc.returncode}):\n{proc.stderr[-6000:]}", pytrace=False)
    return Kube(str(local_cluster.KUBECONFIG), str(local_cluster.BIN_DIR / "kubectl"))


@pytest.fixture(scope="session")
def crd(kube: Kube) -> None:
    kube.apply_file(CRD)
    kube.run("wait", "--for=condition=Established", "crd/taskactions.flyte.org", "--timeout=60s")


@pytest.fixture(scope="module")
def namespace(kube: Kube) -> Iterator[str]:
    name = f"ta-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    kube.wait("serviceaccount", "default", name, lambda sa: sa is not None, "created by kube-controller-manager")
    yield name
    kube.run("delete", "namespace", name, "--wait=false")


seaweedfs = seaweedfs_fixture(scope="session")


@pytest.fixture(scope="session")
def storage_env(seaweedfs: SeaweedFS) -> dict[str, str]:
    """The operator reads error.pb / outputs.pb of succeeded pods from a real S3 server, as in production."""
    return {
        "TASKACTION_STORAGE_ENDPOINT": seaweedfs.endpoint,
        "TASKACTION_STORAGE_ACCESS_KEY_ID": seaweedfs.access_key,
        "TASKACTION_STORAGE_SECRET_ACCESS_KEY": seaweedfs.secret_key,
    }


@pytest.fixture(scope="module")
def operator(
    kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    process = OperatorProcess(kube.kubeconfig, [namespace], tmp_path_factory.mktemp("operator") / "operator.log", storage_env)
    process.start()
    yield process
    # While the operator still runs, so that it releases its finalizers and the namespace can go.
    kube.run("delete", "taskactions", "--all", "-n", namespace, "--wait=true", "--timeout=90s", check=False)
    process.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Attach the operator's log to a failing cluster test."""
    outcome = yield
    report = outcome.get_result()
    process = item.funcargs.get("operator") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(process, OperatorProcess):
        report.sections.append(("operator log", process.log()))


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped cluster test means the tier did not really run: that is a failure of the setup."""
    if _skipped and exitstatus == 0:
        print(f"\ncluster tier: {len(_skipped)} test(s) skipped, which counts as a failure: {_skipped}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
