"""Talk to the test cluster with the cached kubectl (same version as the API server): JSON in, JSON out."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_until

TIMEOUT = 30.0
CRD = Path(__file__).resolve().parents[2] / "crds" / "taskactions.flyte.org.yaml"


class Kube:
    def __init__(self, kubeconfig: str, kubectl: str):
        self.kubeconfig = kubeconfig
        self.kubectl_bin = kubectl

    def run(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args], input=input, capture_output=True, text=True, timeout=timeout
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return json.loads(self.run("create", "-o", "json", "-f", "-", input=json.dumps(obj)).stdout)

    def apply_file(self, path: Path, namespace: str | None = None) -> str:
        args = ["apply", "-f", str(path)] + (["-n", namespace] if namespace else [])
        return self.run(*args).stdout

    def get(self, kind: str, name: str, ns: str) -> dict[str, Any] | None:
        proc = self.run("get", kind, name, "-n", ns, "-o", "json", check=False)
        if proc.returncode != 0:
            if "NotFound" in proc.stderr:
                return None
            raise AssertionError(f"kubectl get {kind} {name} failed: {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    def list(self, kind: str, ns: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["get", kind, "-n", ns, "-o", "json"] + (["-l", selector] if selector else [])
        return json.loads(self.run(*args).stdout)["items"]

    def delete(self, kind: str, name: str, ns: str, wait: bool = False) -> None:
        self.run("delete", kind, name, "-n", ns, f"--wait={'true' if wait else 'false'}", "--ignore-not-found")

    def wait(
        self, kind: str, name: str, ns: str, pred: Callable[[dict[str, Any] | None], bool], what: str, timeout: float = TIMEOUT
    ) -> dict[str, Any] | None:
        """Poll until pred(obj) holds (obj is None once the object is gone)."""
        seen: list[dict[str, Any] | None] = [None]

        def holds() -> bool:
            seen[0] = self.get(kind, name, ns)
            return pred(seen[0])

        def report() -> str:
            return f"{kind} {ns}/{name}: not {what}; status:\n{json.dumps((seen[0] or {}).get('status'), indent=1)[:3000]}"

        wait_until(holds, timeout, report)
        return seen[0]


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return cond
    return None


def is_true(obj: dict[str, Any] | None, type_: str) -> bool:
    cond = condition(obj, type_)
    return bool(cond and cond["status"] == "True")


def progressing_reason(obj: dict[str, Any] | None) -> str | None:
    cond = condition(obj, "Progressing")
    return cond["reason"] if cond else None


def install_crd(kube: Kube) -> None:
    """The TaskAction CRD applied, and served once this returns."""
    kube.apply_file(CRD)
    kube.run("wait", "--for=condition=Established", "crd/taskactions.flyte.org", "--timeout=60s")
