"""Record every watch event of a kind in a namespace (`kubectl get -w --output-watch-events -o json`), so a test
sees states that exist only briefly, e.g. a finished TaskAction the garbage collector deletes within seconds."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from tests.support.kube import Kube
from tests.support.waiting import wait_until


class WatchRecorder:
    def __init__(self, kube: Kube, kind: str, namespace: str):
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [kube.kubectl_bin, "--kubeconfig", kube.kubeconfig, "get", kind, "-n", namespace, "--watch", "--output-watch-events", "-o", "json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        buf = ""
        for line in self.proc.stdout:  # one JSON event per line (kubectl 1.36); indented JSON would span lines
            buf += line
            try:
                event = json.loads(buf)
            except json.JSONDecodeError:
                continue
            buf = ""
            with self._lock:
                self.events.append((event["type"], event["object"]))

    def history(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return [(t, o) for t, o in self.events if o.get("metadata", {}).get("name") == name]

    def wait(self, name: str, pred: Callable[[list[tuple[str, dict[str, Any]]]], bool], what: str, timeout: float = 60) -> None:
        def report() -> str:
            seen = [(t, ((o.get("status") or {}).get("conditions"))) for t, o in self.history(name)][-5:]
            return f"{name}: not {what}; last watch events: {json.dumps(seen)[:3000]}"

        wait_until(lambda: pred(self.history(name)), timeout, report, interval=0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
