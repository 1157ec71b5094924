"""The executors the bench measures, each a process of its own on the bench cluster: taskaction-operator and,
when a binary is given, the upstream Go executor with an events-service double. Both read outputs.pb from the same
SeaweedFS. Only one runs at a time: the Go executor watches every namespace."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from tests.support.ports import free_ports

HERE = Path(__file__).resolve().parent


def wait_port(port: int, process: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} before it listened on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


class Sampler(threading.Thread):
    """Peak RSS of a process, every 100 ms, and its CPU seconds (user + system) on demand."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak_rss = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()  # a reset between the sampler's read and its write would be lost

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = self.process.memory_info().rss
            except psutil.NoSuchProcess:
                return
            with self._lock:
                self.peak_rss = max(self.peak_rss, rss)
            self._stop.wait(0.1)

    def reset_peak(self) -> None:
        with self._lock:
            self.peak_rss = self.process.memory_info().rss

    def rss(self) -> int:
        return self.process.memory_info().rss

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        self._stop.set()


class Executor:
    """A started executor process; `stop()` ends it and whatever it started."""

    name: str
    label: str

    def __init__(self, log: Path):
        self.log_path = log
        self.processes: list[subprocess.Popen] = []
        self.sampler: Sampler | None = None

    def _spawn(self, args: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen:
        with open(self.log_path.parent / log_name, "w") as log:
            process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        self.processes.append(process)
        return process

    def _measure(self, process: subprocess.Popen) -> None:
        self.sampler = Sampler(process.pid)
        self.sampler.start()

    @property
    def pid(self) -> int:
        assert self.sampler is not None
        return self.sampler.process.pid

    def stop(self) -> None:
        if self.sampler:
            self.sampler.stop()
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        self.processes.clear()


class Operator(Executor):
    name, label = "operator", "taskaction-operator"

    def start(self, kubeconfig: Path, namespaces: list[str], storage: dict[str, str]) -> Operator:
        env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "TASKACTION_NAMESPACES": json.dumps(namespaces),
            "TASKACTION_METRICS_PORT": "0",
            "TASKACTION_HEALTH_PORT": "0",
            "TASKACTION_STORAGE_ENDPOINT": storage["endpoint"],
            "TASKACTION_STORAGE_ACCESS_KEY_ID": storage["access_key"],
            "TASKACTION_STORAGE_SECRET_ACCESS_KEY": storage["secret_key"],
        }
        env.pop("TASKACTION_READ_OUTPUTS", None)  # its default, true: outputs are read as in production
        self._measure(self._spawn([sys.executable, "-m", "taskaction_operator"], env, self.log_path.name))
        return self


class GoExecutor(Executor):
    """flyteorg/flyte's executor (v2.0.43), standalone: webhook configuration off, metrics and health on loopback,
    events to a double of the events service, outputs read from the same S3 as the operator's."""

    name, label = "go", "Go executor"

    def __init__(self, log: Path, binary: Path):
        super().__init__(log)
        self.binary = binary
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-go-"))

    def config(self, events_port: int, storage: dict[str, str]) -> str:
        metrics, health, webhook = free_ports(3)
        return f"""
executor:
  metricsBindAddress: "127.0.0.1:{metrics}"
  metricsSecure: false
  healthProbeBindAddress: "127.0.0.1:{health}"
  EventsServiceURL: "http://127.0.0.1:{events_port}"
  cacheServiceURL: "http://127.0.0.1:{events_port}"
  cluster: bench
  gc:
    interval: 0s
webhook:
  localCert: true
  certDir: {self.workdir / "certs"}
  listenPort: {webhook}
  cacheInvalidationPort: 0
  disableCreateMutatingWebhookConfig: true
  serviceName: bench-executor
  servicePort: {webhook}
storage:
  type: stow
  container: "{storage["bucket"]}"
  enable-multicontainer: false
  stow:
    kind: s3
    config:
      auth_type: accesskey
      access_key_id: "{storage["access_key"]}"
      secret_key: "{storage["secret_key"]}"
      region: us-east-1
      endpoint: "{storage["endpoint"]}"
      disable_ssl: "true"
logger:
  level: 2
otel:
  type: noop
""", health

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def start(self, kubeconfig: Path, namespaces: list[str], storage: dict[str, str]) -> GoExecutor:
        del namespaces  # it watches every namespace
        (events_port,) = free_ports(1)
        double = self._spawn([sys.executable, str(HERE / "events_double.py"), "--port", str(events_port)], dict(os.environ),
                             "go-events-double.log")
        wait_port(events_port, double, "the events double")
        text, health = self.config(events_port, storage)
        config = self.workdir / "executor.yaml"
        config.write_text(text)
        # FLYTE_DISABLE_SENTRY: upstream reports errors to a hard-coded Sentry DSN otherwise.
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "POD_NAMESPACE": "default", "FLYTE_DISABLE_SENTRY": "true"}
        executor = self._spawn([str(self.binary), "--config", str(config)], env, self.log_path.name)
        wait_port(health, executor, "the Go executor's health endpoint", timeout=120)
        self._measure(executor)
        return self
