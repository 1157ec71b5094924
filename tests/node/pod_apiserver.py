"""The API server as a pod of a real cluster reaches it, for one pod of the real node: `kubernetes.default.svc`
resolves (what cluster DNS does) and 127.0.0.1:443 connects (what kube-proxy does for the `kubernetes` Service).

The local cluster's API server listens on the host's 127.0.0.1 only, a pod under the restricted Pod Security profile
may not share the host's network, and there is neither CoreDNS nor kube-proxy. So, inside the pod's own network
namespace, on its loopback:
- a DNS responder on 127.0.0.1:53 (the node's pods have `nameserver 127.0.0.1`) answers A 127.0.0.1 for
  kubernetes.default.svc (the name kopf's service-account login uses; the API server's certificate has it) and
  NXDOMAIN for anything else;
- a listener on 127.0.0.1:443 relays every connection to the API server's 127.0.0.1:<port> on the host.
Both ends of everything are loopback addresses. The pod's own client (load_incluster_config) is pointed at
127.0.0.1:443 with KUBERNETES_SERVICE_HOST/PORT.

    with PodAPIServer(netns_path, api_port):   # the netns from sandbox_netns()
        ...

Linux only, root: setns(2) in a thread of our own (a network namespace is a per-thread attribute; a socket keeps the
namespace it was created in).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import socket
import subprocess
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


def bind_inside(netns_path: str, kind: socket.SocketKind, port: int) -> socket.socket:
    """A socket bound to 127.0.0.1:port of the network namespace at netns_path (listening, if a stream)."""
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def enter_and_bind() -> None:
        target = os.open(netns_path, os.O_RDONLY)
        try:
            _setns(target)  # this thread only; it ends right after
            sock = socket.socket(socket.AF_INET, kind)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            if kind == socket.SOCK_STREAM:
                sock.listen(64)
            made.append(sock)
        except BaseException as exc:  # handed to the caller's thread
            failed.append(exc)
        finally:
            os.close(target)

    thread = threading.Thread(target=enter_and_bind, name="netns-bind")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


def _pump(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


API_NAME = "kubernetes.default.svc"
DNS_PORT = 53
SERVICE_PORT = 443


def dns_answer(query: bytes, names: set[str]) -> bytes | None:
    """The response to a DNS query: A 127.0.0.1 for a name in `names`, no answer for its other types, NXDOMAIN for
    any other name. None for what is not a one-question query."""
    if len(query) < 12 or int.from_bytes(query[4:6], "big") != 1:
        return None
    labels, at = [], 12
    while at < len(query) and (length := query[at]):
        labels.append(query[at + 1:at + 1 + length].decode(errors="replace"))
        at += 1 + length
    question = query[12:at + 5]  # the name, its terminating zero, QTYPE, QCLASS
    if len(question) != at + 5 - 12:
        return None
    qtype = int.from_bytes(query[at + 1:at + 3], "big")
    known = ".".join(labels).lower().rstrip(".") in names
    flags = 0x8180 if known else 0x8183  # response, recursion desired and available; NOERROR / NXDOMAIN
    answers = b""
    if known and qtype == 1:  # A
        answers = b"\xc0\x0c" + (1).to_bytes(2, "big") + (1).to_bytes(2, "big") + (30).to_bytes(4, "big") \
            + (4).to_bytes(2, "big") + socket.inet_aton("127.0.0.1")
    header = query[:2] + flags.to_bytes(2, "big") + (1).to_bytes(2, "big") + (1 if answers else 0).to_bytes(2, "big") + bytes(4)
    return header + question + answers


class PodAPIServer:
    """In a pod's network namespace: DNS for kubernetes.default.svc and 127.0.0.1:443 relayed to the API server."""

    def __init__(self, netns_path: str, api_port: int):
        self.netns_path = netns_path
        self.api_port = api_port
        self.connections = 0
        self._sockets: list[socket.socket] = []
        self._closed = threading.Event()

    def __enter__(self) -> PodAPIServer:
        self._dns = bind_inside(self.netns_path, socket.SOCK_DGRAM, DNS_PORT)
        self._listener = bind_inside(self.netns_path, socket.SOCK_STREAM, SERVICE_PORT)
        self._sockets += [self._dns, self._listener]
        threading.Thread(target=self._answer, name="pod-dns", daemon=True).start()
        threading.Thread(target=self._accept, name="pod-apiserver", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _answer(self) -> None:
        while not self._closed.is_set():
            try:
                query, peer = self._dns.recvfrom(512)
            except OSError:
                return  # closed
            response = dns_answer(query, {API_NAME})
            if response is not None:
                with contextlib.suppress(OSError):
                    self._dns.sendto(response, peer)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                inside, _ = self._listener.accept()
            except OSError:
                return  # closed
            try:
                outside = socket.create_connection(("127.0.0.1", self.api_port), timeout=10)
            except OSError:
                inside.close()
                continue
            outside.settimeout(None)
            self.connections += 1
            self._sockets += [inside, outside]
            for src, dst in ((inside, outside), (outside, inside)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def sandbox_netns(containerd_socket: Path, pod_uid: str) -> str | None:
    """The network namespace path of the pod's sandbox, from containerd (None while it has none)."""
    ctr = ["ctr", "--address", str(containerd_socket), "--namespace", "k8s.io"]
    ids = subprocess.run([*ctr, "containers", "ls", "-q", f'labels."io.kubernetes.pod.uid"=={pod_uid}'],
                         capture_output=True, text=True, timeout=30).stdout.split()
    for container_id in ids:
        info = subprocess.run([*ctr, "containers", "info", container_id], capture_output=True, text=True, timeout=30)
        if info.returncode != 0:
            continue
        spec = json.loads(info.stdout)
        if spec.get("Labels", {}).get("io.cri-containerd.kind") != "sandbox":
            continue
        for namespace in spec.get("Spec", {}).get("linux", {}).get("namespaces", []):
            if namespace.get("type") == "network" and namespace.get("path"):
                return namespace["path"]
    return None
