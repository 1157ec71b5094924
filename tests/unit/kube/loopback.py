"""Loopback HTTP servers standing in for an API server's answers: any GET (and PATCH) handlers, and one that streams a response
slowly, chunk by chunk, as the API server streams watches and pod logs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from yarl import URL

from taskaction_operator.kube import KubeApi
from taskaction_operator.kube.transport import Transport


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serving(gets: dict[str, Handler], patches: dict[str, Handler] | None = None) -> AsyncIterator[str]:
    """The URL of a server on 127.0.0.1 (a port of its own) answering GET (PATCH) of each path with its handler."""
    app = web.Application()
    for path, handler in gets.items():
        app.router.add_get(path, handler)
    for path, handler in (patches or {}).items():
        app.router.add_patch(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def api_streaming(path: str, chunks: list[bytes], pause: float, **api_options: Any) -> AsyncIterator[tuple[KubeApi, list[URL]]]:
    """A KubeApi whose server answers GET `path` with `chunks`, `pause` seconds apart; and the URLs it was asked."""
    asked: list[URL] = []

    async def stream(request: web.Request) -> web.StreamResponse:
        asked.append(request.rel_url)
        response = web.StreamResponse()
        await response.prepare(request)
        for chunk in chunks:
            await response.write(chunk)
            await asyncio.sleep(pause)
        await response.write_eof()
        return response

    async with serving({path: stream}) as url:
        api = KubeApi(Transport(url), qps=100, burst=10, max_inflight=4, **api_options)
        try:
            yield api, asked
        finally:
            await api.close()
