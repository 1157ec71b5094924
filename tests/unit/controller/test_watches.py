"""The controller's watches: list, watch from the listing's version, resume where a watch ended, list again after
410 Gone (and say so), go on past an object the handler cannot take."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from taskaction_operator.controller.watches import Watch


def obj(name: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": str(rv)}}


class Server:
    """What the API server answers: a listing, and one scripted watch after the other (each a list of events, or an
    exception raised when the watch is opened); then a watch that stays quiet."""

    def __init__(self, listing: list[dict[str, Any]], watches: list[list[dict[str, Any]] | BaseException]):
        self.listing, self.watches = listing, watches
        self.lists = 0
        self.watched_from: list[str] = []
        self.quiet = asyncio.Event()

    async def list_page(self, namespace: str | None, selector: str, limit: int, cont: str | None) -> dict[str, Any]:
        self.lists += 1
        return {"items": [dict(o) for o in self.listing], "metadata": {"resourceVersion": "10"}}

    async def watch(self, namespace: str | None, selector: str, version: str, timeout: int) -> AsyncIterator[dict[str, Any]]:
        self.watched_from.append(version)
        if not self.watches:
            self.quiet.set()
            await asyncio.Event().wait()
        script = self.watches.pop(0)
        if isinstance(script, BaseException):
            raise script
        for event in script:
            yield event


async def run(server: Server, on_event: Any = None) -> tuple[list[tuple[str | None, str, str | None]], int]:
    seen: list[tuple[str | None, str, str | None]] = []
    relists = 0

    def record(kind: str | None, o: dict[str, Any]) -> None:
        if on_event is not None:
            on_event(kind, o)
        seen.append((kind, o["metadata"]["name"], o.get("kind")))

    def relisted() -> None:
        nonlocal relists
        relists += 1

    watch = Watch("TaskAction", "flyte.org/v1", "ns", "", server.list_page, server.watch, record, relisted)
    task = asyncio.create_task(watch.run_forever(lambda: None))
    await asyncio.wait_for(server.quiet.wait(), 5)
    task.cancel()
    assert watch.listed
    return seen, relists


async def test_listed_then_watched_and_resumed_where_the_server_ended_it() -> None:
    server = Server(
        [obj("a", 5)],
        [
            [{"type": "ADDED", "object": obj("b", 11)}, {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "15"}}}],
            [{"type": "DELETED", "object": {**obj("a", 16), "kind": "TaskAction"}}],
        ],
    )
    seen, relists = await run(server)
    # Listed objects carry no kind of their own; a bookmark is no object's event, only a version.
    assert seen == [(None, "a", "TaskAction"), ("ADDED", "b", None), ("DELETED", "a", "TaskAction")]
    assert server.watched_from == ["10", "15", "16"]
    assert (server.lists, relists) == (1, 0)


async def test_an_expired_version_is_listed_again_and_said() -> None:
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"}}
    server = Server([obj("a", 5)], [[{"type": "MODIFIED", "object": obj("a", 12)}, gone]])
    seen, relists = await run(server)
    assert [s[:2] for s in seen] == [(None, "a"), ("MODIFIED", "a"), (None, "a")]
    assert server.watched_from == ["10", "10"]  # the second from the new listing
    assert (server.lists, relists) == (2, 1)


async def test_a_broken_connection_resumes_from_the_last_version_without_listing() -> None:
    server = Server([], [[{"type": "ADDED", "object": obj("b", 11)}], aiohttp.ClientConnectionError("refused")])
    seen, relists = await run(server)
    assert seen == [("ADDED", "b", None)]
    assert server.watched_from == ["10", "11", "11"]
    assert (server.lists, relists) == (1, 0)


async def test_an_object_the_handler_cannot_take_does_not_stop_the_watch() -> None:
    def refuse_bad(kind: str | None, o: dict[str, Any]) -> None:
        if o["metadata"]["name"] == "bad":
            raise KeyError("spec")

    server = Server([], [[{"type": "ADDED", "object": obj("bad", 11)}, {"type": "ADDED", "object": obj("good", 12)}]])
    seen, _ = await run(server, refuse_bad)
    assert seen == [("ADDED", "good", None)]
    assert server.watched_from == ["10", "12"]
