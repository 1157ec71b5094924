"""What the chaos scenarios share: kubectl at scale, a history of every pod ever seen, the operator kept running (its
restarts counted), and a TCP gate that makes a server unreachable on demand. Used by `make chaos` (e2e/chaos/chaos.py)
and by the short versions in tests/cluster (test_chaos.py, test_bad_input.py)."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from taskaction_operator.api import constants as c
from tests.support.kube import Kube
from tests.support.operator_process import OperatorProcess

CREATE_CHUNK = 100  # objects per `kubectl create`: one process per chunk, not per object


def create_all(kube: Kube, objects: list[dict[str, Any]]) -> None:
    for start in range(0, len(objects), CREATE_CHUNK):
        items = objects[start:start + CREATE_CHUNK]
        kube.run("create", "-o", "name", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}), timeout=300)


def list_retrying(kube: Kube, kind: str, namespace: str, selector: str | None = None, timeout: float = 180) -> list[dict[str, Any]]:
    """A list that outlasts an API server restart."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return kube.list(kind, namespace, selector)
        except (AssertionError, subprocess.TimeoutExpired):
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def is_terminal(ta: dict[str, Any]) -> bool:
    return any(
        cond["type"] in (c.CONDITION_SUCCEEDED, c.CONDITION_FAILED) and cond["status"] == "True"
        for cond in (ta.get("status") or {}).get("conditions") or []
    )


def wait_terminal(
    kube: Kube,
    namespace: str,
    names: Iterable[str],
    timeout: float,
    selector: str | None = None,
    tick: Callable[[], None] | None = None,
    poll: float = 2.0,
    until: Callable[[], bool] | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Poll until every named TaskAction is terminal (and `until()` holds, when given) or time runs out; returns the
    last objects seen (by name) and when each was first seen terminal (monotonic). `tick` runs once per poll (a
    supervisor, a fault schedule)."""
    wanted = set(names)
    ended: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while True:
        if tick:
            tick()
        objects = {o["metadata"]["name"]: o for o in list_retrying(kube, "taskactions", namespace, selector)}
        now = time.monotonic()
        for name in wanted:
            if name in objects and is_terminal(objects[name]):
                ended.setdefault(name, now)
        if (len(ended) == len(wanted) and (until is None or until())) or now > deadline:
            return objects, ended
        time.sleep(poll)


class PodHistory:
    """Every pod carrying flyte.org/managed=true seen in a namespace while it runs: name -> uids, uid -> the uid of
    its controller ownerReference. Follows `kubectl get -w` (a list, then a watch) and starts it again when it ends
    (an API server restart): a pod made and gone entirely while no watch ran is the one thing it can miss."""

    FORMAT = 'jsonpath={.metadata.name} {.metadata.uid} {.metadata.ownerReferences[?(@.controller==true)].uid}{"\\n"}'

    def __init__(self, kube: Kube, namespace: str):
        self.kube = kube
        self.namespace = namespace
        self.uids: dict[str, set[str]] = defaultdict(set)
        self.owner: dict[str, str] = {}
        self._stop = threading.Event()
        self._proc: subprocess.Popen[str] | None = None
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> PodHistory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._proc and self._proc.poll() is None:
            self._proc.kill()
        self._thread.join(timeout=10)

    def _follow(self) -> None:
        args = [self.kube.kubectl_bin, "--kubeconfig", self.kube.kubeconfig, "get", "pods", "-n", self.namespace,
                "-l", c.MANAGED_SELECTOR, "--watch", "--request-timeout=0", "-o", self.FORMAT]
        while not self._stop.is_set():
            self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                parts = line.split()
                if len(parts) >= 2:
                    self.uids[parts[0]].add(parts[1])
                    self.owner[parts[1]] = parts[2] if len(parts) > 2 else ""
            self._proc.wait()
            self._stop.wait(1)


class SupervisedOperator(OperatorProcess):
    """The operator as a process, started again whenever it exits without being told to; `restarts` counts those."""

    def __init__(self, kubeconfig: str, namespaces: list[str], log_path: Path, env: dict[str, str]):
        super().__init__(kubeconfig, namespaces, log_path, env)
        self.restarts = 0
        self.kills = 0

    def supervise(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            self.restarts += 1
            self.start()

    def kill(self, graceful: bool) -> None:
        """kill -9 (or SIGTERM and wait for the exit) and start again at once: a crash or a rolling restart."""
        if graceful:
            self.stop()
        else:
            self.kill9()
        self.kills += 1
        self.start()


@contextlib.contextmanager
def operator_running(kube: Kube, namespace: str, log_path: Path, env: dict[str, str]) -> Iterator[SupervisedOperator]:
    """A supervised operator on one namespace for a block; its TaskActions are deleted while it still runs (it releases
    their finalizers), so the namespace can go."""
    process = SupervisedOperator(kube.kubeconfig, [namespace], log_path, env)
    process.start()
    try:
        yield process
    finally:
        process.supervise()
        try:
            kube.run("delete", "taskactions", "--all", "-n", namespace, "--wait=true", "--timeout=180s", check=False, timeout=200)
        except subprocess.TimeoutExpired:
            # Thousands of deletions outlast the wait: the namespace's deletion takes the rest, and the figures of the
            # scenario, already measured, must not be lost for it.
            print(f"cleanup: the TaskActions of {namespace} are not all gone after 200 s; its namespace deletion goes on", flush=True)
        process.stop()


class TcpGate:
    """127.0.0.1:<port> forwarding to a server, closed and opened on demand: while closed, connections are refused and
    the ones open are cut, as when the server is down or the network to it is."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._conns.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with self._lock:
            self._conns.discard(src)
            self._conns.discard(dst)
