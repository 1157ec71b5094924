"""A kwok cluster of a test's own (e2e/cluster.py under a TASKACTION_CLUSTER_NAME of its own), brought up for the
block and deleted after it; without the CRD (install_crd, or a chart that brings it).

For what must not happen on the shared cluster, where other runs go on at the same time: an operator watching all
namespaces there reconciles every other run's actions too, with its own settings (no events service, outputs not
read), so those runs see actions end Succeeded that should fail and events that never come; a CRD owned by one
test's release would be another's to upgrade or remove. Bringing one up takes ~10 s.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

from tests.support.kube import Kube
from tests.support.local_cluster import CLUSTER_PY, cluster

UP_TIMEOUT_SECONDS = 600


class OwnCluster(Kube):
    """kubectl on the cluster, which knows its name (e2e/cluster.py's TASKACTION_CLUSTER_NAME) for its processes."""

    def __init__(self, name: str, kubeconfig: str):
        super().__init__(kubeconfig, str(cluster.BIN_DIR / "kubectl"))
        self.name = name


def _cluster_py(name: str, command: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TASKACTION_CLUSTER_NAME": name}
    return subprocess.run([sys.executable, str(CLUSTER_PY), command], env=env, capture_output=True, text=True, timeout=UP_TIMEOUT_SECONDS)


@contextlib.contextmanager
def own_cluster(prefix: str) -> Iterator[OwnCluster]:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"  # unique: two runs at once each get theirs
    try:
        up = _cluster_py(name, "up")
        assert up.returncode == 0, f"cluster {name} did not come up (e2e/cluster.py up, exit {up.returncode}):\n{up.stderr[-6000:]}"
        kubeconfig = _cluster_py(name, "kubeconfig").stdout.strip()
        yield OwnCluster(name, kubeconfig)
    finally:
        down = _cluster_py(name, "down")
        assert down.returncode == 0, f"cluster {name} not deleted (e2e/cluster.py down, exit {down.returncode}):\n{down.stderr[-3000:]}"
