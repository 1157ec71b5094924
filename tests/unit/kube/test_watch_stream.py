"""A watch response is one JSON event a line, however the bytes are cut into chunks and however long a line is (a
TaskAction's spec can be large)."""

from __future__ import annotations

import json

from .loopback import api_streaming


async def test_events_are_split_at_newlines_whatever_the_chunks() -> None:
    big = {"type": "ADDED", "object": {"metadata": {"name": "big", "resourceVersion": "2"}, "spec": {"blob": "x" * 300_000}}}
    small = {"type": "MODIFIED", "object": {"metadata": {"name": "small", "resourceVersion": "3"}}}
    body = (json.dumps(big) + "\n\n" + json.dumps(small) + "\n").encode()
    cuts = [0, 7, 150_000, len(body) - 20, len(body) - 1, len(body)]
    chunks = [body[start:end] for start, end in zip(cuts, cuts[1:])]
    async with api_streaming("/api/v1/namespaces/ns/pods", chunks, 0.01) as (api, asked):
        events = [e async for e in api.watch_pods("ns", "flyte.org/managed=true", "1", 5)]
    assert events == [big, small]
    assert "watch=true" in asked[0].path_qs and "resourceVersion=1" in asked[0].path_qs and "allowWatchBookmarks=true" in asked[0].path_qs
