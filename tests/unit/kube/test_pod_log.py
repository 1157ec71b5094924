"""KubeApi.follow_pod_log against a loopback HTTP server that streams a log slowly, as the kubelet does through the
API server: every chunk arrives as written, a character split across chunks is decoded whole, and a follow outlives
the per-request timeout (its read has none)."""

from __future__ import annotations

from .loopback import api_streaming

CHUNKS = [b"first line\n", "é".encode()[:1], "é".encode()[1:] + b" second\n", b"last\n"]


async def test_the_log_streams_past_the_request_timeout() -> None:
    # 0.3 s between chunks, 1.2 s in all: past the 0.5 s request timeout
    async with api_streaming("/api/v1/namespaces/ns/pods/p-0/log", CHUNKS, 0.3, timeout_seconds=0.5) as (api, asked):
        texts = [text async for text in api.follow_pod_log("ns", "p-0")]
    assert "".join(texts) == "first line\né second\nlast\n"
    assert asked[0].query.get("follow") in ("true", "True")  # both are true to the API server (strconv.ParseBool)
