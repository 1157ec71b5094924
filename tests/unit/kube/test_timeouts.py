"""Every request is bounded in time: a server that accepts the connection and never answers (a half-open
connection) raises a timeout instead of hanging the caller."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator


from taskaction_operator.kube import TRANSPORT_ERRORS, KubeApi
from taskaction_operator.kube.transport import Transport


@contextlib.asynccontextmanager
async def silent_server(timeout_seconds: float) -> AsyncIterator[tuple[KubeApi, asyncio.Event]]:
    """A client of a loopback server that accepts connections and never answers; the event is set once it accepted."""
    accepted = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await asyncio.sleep(3600)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    api = KubeApi(Transport(f"http://127.0.0.1:{port}"), qps=100, burst=10, max_inflight=4, timeout_seconds=timeout_seconds)
    try:
        yield api, accepted
    finally:
        await api.close()
        server.close()


async def raised_by(call) -> BaseException | None:  # noqa: ANN001
    try:
        await call
    except TRANSPORT_ERRORS as exc:
        return exc
    return None


async def test_a_silent_server_times_the_request_out() -> None:
    async with silent_server(timeout_seconds=0.5) as (api, accepted):
        started = time.monotonic()
        raised = await raised_by(api.get_pod("ns", "p"))
    assert accepted.is_set()
    assert isinstance(raised, asyncio.TimeoutError), raised
    assert time.monotonic() - started < 5


async def test_a_lease_request_has_its_own_budget() -> None:
    async with silent_server(timeout_seconds=600) as (api, _):
        started = time.monotonic()
        raised = await raised_by(api.get_lease("ns", "lease", timeout=0.3))
    assert isinstance(raised, asyncio.TimeoutError), raised
    assert time.monotonic() - started < 5
