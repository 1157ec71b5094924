"""An ASGI application (a flyteidl2 Connect service) on hypercorn, on loopback (port chosen by the OS), in a thread
of its own: the stand-ins for the Flyte control plane's services (ServedDouble). `down()` makes the service refuse
everything (UNAVAILABLE) for the length of a block: the service's handlers check `refusing`."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError

from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config
from hypercorn.utils import wrap_app


class LoopbackServer:
    def __init__(self, app: Any, name: str) -> None:
        self._app = app
        self._name = name
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.refusing = False

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
        app = wrap_app(self._app, config.wsgi_max_body_size, "asgi")

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._stop = asyncio.Event()
            self._loop.run_until_complete(worker_serve(app, config, sockets=sockets, shutdown_trigger=self._stop.wait))

        self._thread = threading.Thread(target=serve, name=self._name, daemon=True)
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
        self.refusing = True
        try:
            yield
        finally:
            self.refusing = False


class ServedDouble:
    """A double whose `application()` (a Connect ASGI application of itself) is served on loopback."""

    def __init__(self, name: str) -> None:
        self._server = LoopbackServer(self.application(), name)

    def application(self) -> Any:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()

    def down(self) -> AbstractContextManager[None]:
        """Refuse every request (UNAVAILABLE) for the length of a block."""
        return self._server.down()

    def refuse_while_down(self, service: str) -> None:
        if self._server.refusing:
            raise ConnectError(Code.UNAVAILABLE, f"the {service} is down (test)")


D = TypeVar("D", bound=ServedDouble)


@contextmanager
def serving(double: D) -> Iterator[D]:
    """A double started for the length of a block."""
    double.start()
    try:
        yield double
    finally:
        double.stop()
