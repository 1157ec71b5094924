"""Fixtures of the e2e tier: the chart rendered and installed with helm on the real local control plane (or the
cluster KUBECONFIG names), the operator run with the chart's ServiceAccount token. No cluster is a failure, never a
skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.helm import Helm, install_helm
from tests.support.kube import Kube
from tests.support.local_cluster import cluster as local_cluster

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
def helm_bin() -> str:
    return install_helm()


@pytest.fixture(scope="session")
def helm(helm_bin: str, kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_bin, kube.kubeconfig, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture(scope="session")
def crd(kube: Kube) -> None:
    """The CRD as the cluster tier installs it; helm skips chart CRDs that already exist."""
    kube.apply_file(CRD)
    kube.run("wait", "--for=condition=Established", "crd/taskactions.flyte.org", "--timeout=60s")


@pytest.fixture
def new_namespace(kube: Kube) -> Iterator[Callable[..., str]]:
    """Fresh namespaces, deleted after the test: new_namespace(prefix, **labels)."""
    made: list[str] = []

    def make(prefix: str = "e2e", **labels: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        kube.run("create", "namespace", name)
        if labels:
            kube.run("label", "namespace", name, *[f"{k}={v}" for k, v in labels.items()])
        made.append(name)
        return name

    yield make
    for name in made:
        kube.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def releases(helm: Helm) -> Iterator[list[tuple[str, str]]]:
    """(release, namespace) pairs a test installs: uninstalled afterwards whatever happened, so that no cluster-scoped
    ClusterRole or binding outlives a failed test (namespace deletion only takes the namespaced objects)."""
    installed: list[tuple[str, str]] = []
    yield installed
    for release, namespace in installed:
        helm.run("uninstall", release, "--namespace", namespace, "--ignore-not-found", "--timeout", "60s", check=False)


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped e2e test means the tier did not really run: that is a failure of the setup."""
    if _skipped and exitstatus == 0:
        print(f"\ne2e tier: {len(_skipped)} test(s) skipped, which counts as a failure: {_skipped}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
