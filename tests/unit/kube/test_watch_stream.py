"""A watch response is one JSON event a line, however the bytes are cut into chunks and however long a line is (a
TaskAction's spec can be large)."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from kubernetes_asyncio import client

from taskaction_operator.kube import KubeApi
from taskaction_operator.kube.connect import without_env_lookups


async def test_events_are_split_at_newlines_whatever_the_chunks() -> None:
    big = {"type": "ADDED", "object": {"metadata": {"name": "big", "resourceVersion": "2"}, "spec": {"blob": "x" * 300_000}}}
    small = {"type": "MODIFIED", "object": {"metadata": {"name": "small", "resourceVersion": "3"}}}
    body = (json.dumps(big) + "\n\n" + json.dumps(small) + "\n").encode()
    cuts = [0, 7, 150_000, len(body) - 20, len(body) - 1, len(body)]
    asked: list[str] = []

    async def watch(request: web.Request) -> web.StreamResponse:
        asked.append(request.path_qs)
        response = web.StreamResponse()
        await response.prepare(request)
        for start, end in zip(cuts, cuts[1:]):
            await response.write(body[start:end])
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/ns/pods", watch)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    api = KubeApi(without_env_lookups(client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{port}"))), 100, 10, 4)
    try:
        events = [e async for e in api.watch_pods("ns", "flyte.org/managed=true", "1", 5)]
    finally:
        await api.close()
        await runner.cleanup()
    assert events == [big, small]
    assert "watch=True" in asked[0] and "resourceVersion=1" in asked[0] and "allowWatchBookmarks=True" in asked[0]
