"""Ports for servers the tests start on 127.0.0.1 and hand to another process, which binds them later.

A port the kernel picks (bind to 0) is an ephemeral one: between the choice and the server's bind, any outgoing
connection on the machine (kubectl, the operator, the API server's clients) may be given the same port as its local
end, and the server then fails to bind. These come from below the kernel's ephemeral range, which outgoing
connections never use, chosen at random so that concurrent runs rarely try the same one, and checked free.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

HOST = "127.0.0.1"
LOWEST = 10_000
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _below_ephemeral() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free on 127.0.0.1 right now (held open together while choosing)."""
    top = _below_ephemeral()
    chosen: list[socket.socket] = []
    try:
        while len(chosen) < count:
            candidate = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                candidate.bind((HOST, random.randrange(LOWEST, top)))
            except OSError:
                candidate.close()
                continue
            chosen.append(candidate)
        return [s.getsockname()[1] for s in chosen]
    finally:
        for s in chosen:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]
