"""The operator as a real process (as it runs in a pod), so tests can kill -9 and restart it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.processes import DIE_WITH_PARENT
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from tests.support.kube import Kube


class OperatorProcess:
    def __init__(self, kubeconfig: str, namespaces: list[str], log_path: Path, extra_env: dict[str, str] | None = None):
        self.kubeconfig = kubeconfig
        self.namespaces = namespaces
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "TASKACTION_NAMESPACES": json.dumps(self.namespaces),
            "TASKACTION_METRICS_PORT": "0",
            "TASKACTION_HEALTH_PORT": "0",
            **self.extra_env,
        }
        log = open(self.log_path, "ab")  # noqa: SIM115 (the process owns it)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "taskaction_operator"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=DIE_WITH_PARENT,
        )
        time.sleep(0.5)
        if self.proc.poll() is not None:
            raise AssertionError(f"operator exited at once with {self.proc.returncode}; log:\n{self.log()}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]


@contextlib.contextmanager
def running_operator(kube: Kube, namespace: str, log_path: Path, env: dict[str, str]) -> Iterator[OperatorProcess]:
    """The operator on one namespace for the length of a block; its TaskActions are deleted while it still runs, so
    that it releases their finalizers and the namespace can go."""
    process = OperatorProcess(kube.kubeconfig, [namespace], log_path, env)
    process.start()
    try:
        yield process
    finally:
        kube.run("delete", "taskactions", "--all", "-n", namespace, "--wait=true", "--timeout=90s", check=False)
        process.stop()


def wait_for_port(address: str, process: OperatorProcess, timeout: float = 30) -> None:
    """Until the operator's endpoint at host:port accepts connections (its actions service, say)."""
    wait_until(lambda: listens(address), timeout, lambda: f"nothing listens on {address}; operator log:\n{process.log()}")


def listens(address: str) -> bool:
    """Whether host:port accepts a connection now."""
    host, port = address.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return False
    return True
