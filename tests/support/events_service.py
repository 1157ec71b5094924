"""A stand-in for the Flyte events service: flyteidl2's own EventsProxyService Connect ASGI application on hypercorn,
on loopback (port chosen by the OS), in a thread of its own. It records every RecordRequest and can be made to refuse
them (UNAVAILABLE) for a while, or to refuse as invalid, as the real one does, every request with an event of some runs. `stored()` is what the control plane's database keeps: the first event of each
(action, attempt, phase, version), as its ON CONFLICT DO NOTHING insert does.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.workflow.events_proxy_service_connect import EventsProxyServiceASGIApplication
from flyteidl2.workflow.events_proxy_service_pb2 import RecordRequest, RecordResponse
from flyteidl2.workflow.run_definition_pb2 import ActionEvent
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config
from hypercorn.utils import wrap_app


class EventsServiceDouble:
    def __init__(self) -> None:
        self.requests: list[RecordRequest] = []
        self.refusing = False
        self.invalid_runs: set[str] = set()  # a request with an event of one of these runs is refused as invalid
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    async def record(self, request: RecordRequest, ctx: RequestContext) -> RecordResponse:
        if self.refusing:
            raise ConnectError(Code.UNAVAILABLE, "the events service is down (test)")
        if any(event.id.run.name in self.invalid_runs for event in request.events):
            raise ConnectError(Code.INVALID_ARGUMENT, "invalid event (test)")
        with self._lock:
            self.requests.append(request)
        return RecordResponse()

    def start(self) -> None:
        config = Config()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.graceful_timeout = 1.0
        sockets = config.create_sockets()
        for sock in sockets.insecure_sockets:
            sock.listen(config.backlog)
        host, port = sockets.insecure_sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        app = wrap_app(EventsProxyServiceASGIApplication(self), config.wsgi_max_body_size, "asgi")

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._stop = asyncio.Event()
            self._loop.run_until_complete(worker_serve(app, config, sockets=sockets, shutdown_trigger=self._stop.wait))

        self._thread = threading.Thread(target=serve, name="events-service-double", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        deadline = time.monotonic() + 5
        while self._stop is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    @contextmanager
    def down(self) -> Iterator[None]:
        """Refuse every request (UNAVAILABLE) for the length of a block."""
        self.refusing = True
        try:
            yield
        finally:
            self.refusing = False

    # What it received ----------------------------------------------------------------------------------------

    def received(self, run: str) -> list[ActionEvent]:
        """Every event of the run, in the order received, repeats included."""
        with self._lock:
            return [e for request in self.requests for e in request.events if e.id.run.name == run]

    def stored(self, run: str) -> list[ActionEvent]:
        """What the control plane keeps of the run: the first of each (action, attempt, phase, version)."""
        kept: dict[tuple[str, int, int, int], ActionEvent] = {}
        for event in self.received(run):
            kept.setdefault((event.id.name, event.attempt, event.phase, event.version), event)
        return list(kept.values())

    def wait_for(self, run: str, done: Callable[[list[ActionEvent]], bool], what: str, timeout: float = 30) -> list[ActionEvent]:
        deadline = time.monotonic() + timeout
        while True:
            stored = self.stored(run)
            if done(stored):
                return stored
            if time.monotonic() > deadline:
                raise AssertionError(f"events of {run}: not {what} after {timeout}s; stored: {[(e.attempt, e.phase, e.version) for e in stored]}")
            time.sleep(0.1)


@contextmanager
def events_service() -> Iterator[EventsServiceDouble]:
    double = EventsServiceDouble()
    double.start()
    try:
        yield double
    finally:
        double.stop()
