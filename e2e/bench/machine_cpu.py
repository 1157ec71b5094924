"""Where a phase's CPU went outside the executor: the bench cluster's own processes (the API server, etcd, the
scheduler, the controller manager, kwok) and the whole machine.

Two questions every figure of a phase depends on: was the machine itself full (`machine_busy_cores` close to its
core count: then every side's latency is the machine's queue, not its own), and what does the work cost the API
server, per action (`apiserver_cpu_ms_per_action`: an executor's writes and watches are paid for there too).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psutil

# kwokctl's binary runtime names its processes after the binaries: these are the ones a phase loads.
COMPONENTS = ("kube-apiserver", "etcd", "kube-scheduler", "kube-controller-manager", "kwok-controller")


@dataclass(frozen=True)
class Snapshot:
    at: float
    machine_busy_seconds: float
    component_seconds: dict[str, float]


def busy_seconds(times: Any) -> float:
    """CPU seconds the machine spent working: everything but idle, I/O wait and what the hypervisor took (steal)."""
    return sum(getattr(times, field, 0.0) for field in ("user", "nice", "system", "irq", "softirq"))


class MachineCpu:
    """The cluster's component processes, found once (pid -> component), and snapshots of their CPU and the machine's."""

    def __init__(self, cluster_processes: dict[int, str]):
        self.processes: dict[str, list[psutil.Process]] = {}
        for pid, command in cluster_processes.items():
            name = os.path.basename(command.split()[0])
            if name in COMPONENTS:
                try:
                    self.processes.setdefault(name, []).append(psutil.Process(pid))
                except psutil.NoSuchProcess:
                    continue

    def snapshot(self) -> Snapshot:
        seconds = {name: cpu_seconds(processes) for name, processes in self.processes.items()}
        return Snapshot(time.monotonic(), busy_seconds(psutil.cpu_times()), seconds)


def cpu_seconds(processes: Iterable[psutil.Process]) -> float:
    """User and system CPU seconds of those of the processes that still run."""
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def figures(before: Snapshot, done: Snapshot, settled: Snapshot, actions: int, cores: int) -> dict[str, Any]:
    """The machine's busy cores from the first create until every action finished (`done`); the components' CPU
    until the phase's writes settled (`settled`: an executor's last writes come after the action's Succeeded)."""
    wall = done.at - before.at
    used = {name: round(settled.component_seconds[name] - before.component_seconds.get(name, 0.0), 2)
            for name in settled.component_seconds}
    apiserver = used.get("kube-apiserver")
    return {
        "machine_busy_cores": round((done.machine_busy_seconds - before.machine_busy_seconds) / wall, 2) if wall > 0 else None,
        "machine_cores": cores,
        "cluster_cpu_seconds": used,
        "apiserver_cpu_ms_per_action": round(1000 * apiserver / actions, 2) if apiserver is not None and actions else None,
        "cluster_cpu_ms_per_action": round(1000 * sum(used.values()) / actions, 2) if used and actions else None,
    }
