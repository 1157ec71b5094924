"""helm, built from its Go module by e2e/install-helm.sh, run against the test cluster with its state kept in a
temporary directory (no ~/.config/helm, ~/.cache/helm of the developer touched)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "taskaction-operator"
INSTALL_SCRIPT = REPO / "e2e" / "install-helm.sh"
# The shared cluster's CRD is the test session's (tests/conftest.py applies crds/), so releases installed there leave
# it alone: a release owning it would refuse every other release (helm's ownership check) and fight the session.
# tests/e2e/test_upgrade.py, on a cluster of its own, installs the CRD with the chart.
CRD_NOT_INSTALLED = ("--set", "crds.install=false")


def install_helm() -> str:
    """Path of the helm binary (built on first use, then cached)."""
    proc = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0:
        raise AssertionError(f"e2e/install-helm.sh failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout.strip().splitlines()[-1]


class Helm:
    def __init__(self, binary: str, kubeconfig: str, home: Path):
        self.binary = binary
        self.kubeconfig = kubeconfig
        self.env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "KUBECONFIG": kubeconfig,
        }

    def run(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.binary, *args], capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
        return proc

    def template(self, *args: str, release: str = "ta", namespace: str = "taskaction-system", crds: bool = True) -> str:
        extra = ["--include-crds"] if crds else []
        return self.run("template", release, str(CHART), "--namespace", namespace, *extra, *args).stdout

    def docs(self, *args: str, **kwargs: Any) -> list[dict[str, Any]]:
        return [d for d in yaml.safe_load_all(self.template(*args, **kwargs)) if d]


def release_objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What `helm install` creates: the rendered documents without the hooks (the `helm test` objects)."""
    return [d for d in docs if "helm.sh/hook" not in (d["metadata"].get("annotations") or {})]


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, got {[d['metadata']['name'] for d in found]}"
    return found[0]
