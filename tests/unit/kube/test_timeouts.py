"""Every request is bounded in time: a server that accepts the connection and never answers (a half-open
connection) raises a timeout instead of hanging the caller."""

from __future__ import annotations

import asyncio
import time

from kubernetes_asyncio import client

from taskaction_operator.kube import TRANSPORT_ERRORS, KubeApi
from taskaction_operator.kube.connect import without_env_lookups


async def test_a_silent_server_times_the_request_out() -> None:
    accepted = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await asyncio.sleep(3600)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    api = KubeApi(without_env_lookups(client.ApiClient(configuration)), qps=100, burst=10, max_inflight=4, timeout_seconds=0.5)
    started = time.monotonic()
    try:
        try:
            await api.get_pod("ns", "p")
        except TRANSPORT_ERRORS as exc:
            raised = exc
        else:
            raised = None
    finally:
        await api.close()
        server.close()
    assert accepted.is_set()
    assert isinstance(raised, asyncio.TimeoutError), raised
    assert time.monotonic() - started < 5


async def test_a_lease_request_has_its_own_budget() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(3600)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    api = KubeApi(without_env_lookups(client.ApiClient(configuration)), qps=100, burst=10, max_inflight=4, timeout_seconds=600)
    started = time.monotonic()
    try:
        try:
            await api.get_lease("ns", "lease", timeout=0.3)
        except TRANSPORT_ERRORS as exc:
            raised = exc
    finally:
        await api.close()
        server.close()
    assert isinstance(raised, asyncio.TimeoutError)
    assert time.monotonic() - started < 5
