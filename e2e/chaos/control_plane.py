"""Faults of the chaos cluster's control plane (its own kwokctl cluster, never the shared one): the whole control plane
stopped and started (`kwokctl stop/start cluster`: etcd and the API server with it), and a gap in every watch: the API
server killed, objects deleted straight from etcd while no watch can report it, etcd compacted past every client's
resourceVersion, the API server started again, so that resuming a watch gets 410 Gone and only a relist shows the
deletions. etcd is reached through its JSON gateway (POST /v3/kv/...), so no etcdctl is needed."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

READY_TIMEOUT = 120.0


class ControlPlane:
    def __init__(self, cluster: ModuleType):
        """`cluster` is e2e/cluster.py imported with TASKACTION_CLUSTER_NAME set to the chaos cluster's name."""
        if cluster.CLUSTER_NAME == cluster.DEFAULT_CLUSTER_NAME:
            raise RuntimeError("the chaos suite restarts its cluster's API server: it needs its own cluster, not the shared one")
        self.cluster = cluster

    def wait_ready(self) -> None:
        self.cluster.wait_for(
            "kube-apiserver /readyz",
            lambda: [] if self.cluster.kubectl("get", "--raw", "/readyz", check=False, timeout=10).returncode == 0 else ["not ready"],
            READY_TIMEOUT,
        )

    def restart_all(self, down_seconds: float) -> float:
        """Stop every component (etcd and the API server among them), wait, start them; seconds until ready again."""
        self.cluster.kwokctl("stop", "cluster", timeout=120)
        time.sleep(down_seconds)
        started = time.monotonic()
        self.cluster.kwokctl("start", "cluster", timeout=180)
        self.cluster.wait_for("every component running and the API server ready", self.cluster.check_health, READY_TIMEOUT)
        return time.monotonic() - started

    # The API server alone.

    def _pid_file(self) -> Path:
        return self.cluster.CLUSTER_DIR / "pids" / "kube-apiserver.pid"

    def stop_apiserver(self) -> tuple[list[str], str]:
        """SIGKILL the API server; returns its command line and working directory to start it again with."""
        pid = int(self._pid_file().read_text().strip())
        command = self.cluster._proc_cmdline(pid)  # noqa: SLF001 (the cluster module's own /proc reader)
        cwd = self.cluster._proc_cwd(pid)  # noqa: SLF001
        if not command or os.path.basename(command[0]) != "kube-apiserver":
            raise RuntimeError(f"pid {pid} of {self._pid_file()} is not kube-apiserver: {command}")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return command, cwd

    def start_apiserver(self, command: list[str], cwd: str) -> None:
        """As kwokctl starts it: in the cluster dir, logging to logs/kube-apiserver.log, its pid in the pid file (so
        `e2e/cluster.py down` finds it)."""
        log = open(self.cluster.CLUSTER_DIR / "logs" / "kube-apiserver.log", "ab")  # noqa: SIM115 (the process owns it)
        proc = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._pid_file().write_text(str(proc.pid))  # as kwokctl writes it: no newline, or `kwokctl stop` misses it
        self.cluster.wait_for("every component running and the API server ready", self.cluster.check_health, READY_TIMEOUT)

    # etcd, through its JSON gateway.

    def etcd_url(self) -> str:
        text = (self.cluster.CLUSTER_DIR / "kwok.yaml").read_text()
        match = re.search(r"--etcd-servers=(http://127\.0\.0\.1:\d+)", text)
        if not match:
            raise RuntimeError("no --etcd-servers=http://127.0.0.1:<port> in the cluster's kwok.yaml")
        return match.group(1)

    def etcd(self, call: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(f"{self.etcd_url()}/v3/kv/{call}", data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def etcd_delete(self, key: str) -> int:
        """Delete one key as if the object had never been; returns how many keys went (0 or 1)."""
        encoded = base64.b64encode(key.encode()).decode()
        return int(self.etcd("deleterange", {"key": encoded}).get("deleted", 0))

    def etcd_compact(self) -> int:
        """Compact etcd up to its current revision (physically); returns that revision."""
        revision = int(self.etcd("range", {"key": base64.b64encode(b"/").decode(), "limit": 1})["header"]["revision"])
        self.etcd("compaction", {"revision": revision, "physical": True})
        return revision
