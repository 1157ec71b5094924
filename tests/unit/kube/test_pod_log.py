"""KubeApi.follow_pod_log against a loopback HTTP server that streams a log slowly, as the kubelet does through the
API server: every chunk arrives as written, a character split across chunks is decoded whole, and a follow outlives
the per-request timeout (its read has none)."""

from __future__ import annotations

import asyncio

from aiohttp import web
from kubernetes_asyncio import client

from taskaction_operator.kube import KubeApi
from taskaction_operator.kube.connect import without_env_lookups

CHUNKS = [b"first line\n", "é".encode()[:1], "é".encode()[1:] + b" second\n", b"last\n"]


async def test_the_log_streams_past_the_request_timeout() -> None:
    seen_query: dict[str, str] = {}

    async def log(request: web.Request) -> web.StreamResponse:
        seen_query.update(request.query)
        response = web.StreamResponse()
        await response.prepare(request)
        for chunk in CHUNKS:
            await response.write(chunk)
            await asyncio.sleep(0.3)  # 1.2 s in all, past the 0.5 s request timeout
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/ns/pods/p-0/log", log)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    api = KubeApi(without_env_lookups(client.ApiClient(client.Configuration(host=f"http://127.0.0.1:{port}"))),
                  qps=100, burst=10, max_inflight=4, timeout_seconds=0.5)
    try:
        texts = [text async for text in api.follow_pod_log("ns", "p-0")]
    finally:
        await api.close()
        await runner.cleanup()
    assert "".join(texts) == "first line\né second\nlast\n"
    assert seen_query.get("follow") in ("true", "True")  # both are true to the API server (strconv.ParseBool)
