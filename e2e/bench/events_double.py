"""A double of Flyte's events service for the Go executor: answers EventsProxyService/Record (Connect over HTTP/1.1)
with an empty RecordResponse and counts the requests, printed when it ends. Binds 127.0.0.1.

    python e2e/bench/events_double.py --port PORT
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flyteidl2.workflow import events_proxy_service_pb2 as pb
from flyteidl2.workflow.events_proxy_service_connect import EventsProxyServiceWSGIApplication


class Double:
    def __init__(self) -> None:
        self.records = 0
        self._lock = threading.Lock()

    def record(self, request: pb.RecordRequest, ctx) -> pb.RecordResponse:
        with self._lock:
            self.records += 1
        return pb.RecordResponse()


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    double = Double()
    server = make_server("127.0.0.1", port, EventsProxyServiceWSGIApplication(double), server_class=ThreadingWSGIServer,
                         handler_class=QuietHandler)

    def finish(*_: object) -> None:
        print(f"RecordRequests answered: {double.records}", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, finish)
    server.serve_forever()


if __name__ == "__main__":
    main()
