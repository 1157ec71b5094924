"""A KubeApi talking to a loopback HTTP server that streams a response slowly, chunk by chunk, as the API server
streams watches and pod logs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from yarl import URL

from taskaction_operator.kube import KubeApi
from taskaction_operator.kube.transport import Transport


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

    app = web.Application()
    app.router.add_get(path, stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api = KubeApi(Transport(f"http://127.0.0.1:{port}"), qps=100, burst=10, max_inflight=4, **api_options)
    try:
        yield api, asked
    finally:
        await api.close()
        await runner.cleanup()
