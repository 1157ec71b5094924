"""A stand-in for the Flyte events service: flyteidl2's own EventsProxyService Connect ASGI application on loopback
(tests/support/loopback_asgi.py). It records every RecordRequest and can be made to refuse
them (UNAVAILABLE) for a while, or to refuse as invalid, as the real one does, every request with an event of some runs. `stored()` is what the control plane's database keeps: the first event of each
(action, attempt, phase, version), as its ON CONFLICT DO NOTHING insert does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.workflow.events_proxy_service_connect import EventsProxyServiceASGIApplication
from flyteidl2.workflow.events_proxy_service_pb2 import RecordRequest, RecordResponse
from flyteidl2.workflow.run_definition_pb2 import ActionEvent

from tests.support.loopback_asgi import ServedDouble, serving


class EventsServiceDouble(ServedDouble):
    def __init__(self) -> None:
        self.requests: list[RecordRequest] = []
        self.invalid_runs: set[str] = set()  # a request with an event of one of these runs is refused as invalid
        self._lock = threading.Lock()
        super().__init__("events-service-double")

    def application(self) -> EventsProxyServiceASGIApplication:
        return EventsProxyServiceASGIApplication(self)

    async def record(self, request: RecordRequest, ctx: RequestContext) -> RecordResponse:
        self.refuse_while_down("events service")
        if any(event.id.run.name in self.invalid_runs for event in request.events):
            raise ConnectError(Code.INVALID_ARGUMENT, "invalid event (test)")
        with self._lock:
            self.requests.append(request)
        return RecordResponse()

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


def events_service() -> AbstractContextManager[EventsServiceDouble]:
    return serving(EventsServiceDouble())
