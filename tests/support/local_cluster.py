"""e2e/cluster.py (a script, not a package) imported for the tests: paths of the local cluster and its helpers."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLUSTER_PY = REPO / "e2e" / "cluster.py"

_spec = importlib.util.spec_from_file_location("taskaction_e2e_cluster", CLUSTER_PY)
cluster = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cluster)


@contextlib.contextmanager
def garbage_collector_paused(cluster_name: str) -> Iterator[None]:
    """The kube-controller-manager (its garbage collector among its controllers) of the local cluster of that name
    stopped for the block. Never the shared cluster's: every other run on it would lose its namespaces'
    ServiceAccounts and garbage collection meanwhile. (It elects no leader, e2e/kwok/kwokctl.yaml, so a long block
    does not make it give up and exit.)"""
    binary = cluster.KWOK_WORKDIR / "clusters" / cluster_name / "bin" / "kube-controller-manager"
    # By the path it was started as: the cluster's bin/ links to one binary that other local clusters run too.
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _argv0(p) == str(binary)]
    assert pids, f"no kube-controller-manager of the local cluster {cluster_name} runs ({binary})"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def _argv0(proc: Path) -> str | None:
    try:
        return (proc / "cmdline").read_bytes().split(b"\0", 1)[0].decode()
    except OSError:
        return None
