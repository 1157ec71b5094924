"""Fixtures shared by the tiers that need a cluster (tests/cluster, tests/e2e): the real local control plane, or the
cluster KUBECONFIG names when it answers, and the CRD installed on it. No cluster is a failure, never a skip: a
skipped test anywhere fails the run, since it means a tier did not really run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.kube import Kube, install_crd
from tests.support.local_cluster import cluster as local_cluster

REPO = Path(__file__).resolve().parents[1]


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
    install_crd(kube)


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and exitstatus == 0:
        print(f"\n{len(_skipped)} test(s) skipped, which counts as a failure: {_skipped}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
