"""Serve the actions service: flyteidl2's Connect ASGI application on hypercorn, which speaks HTTP/1.1 (the
SDK's Connect client) and HTTP/2 (gRPC clients), in cleartext or with TLS (TASKACTION_ACTIONS_SERVICE_TLS_*).
Loopback unless told otherwise. Callers are authenticated by the gate (auth.py) unless TASKACTION_ACTIONS_SERVICE_AUTH
is false.

Run inside the operator (TASKACTION_ACTIONS_SERVICE_ADDRESS) or on its own: `taskaction-actions-service`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Any

from flyteidl2.actions.actions_service_connect import ActionsServiceASGIApplication
from hypercorn.asyncio.run import worker_serve
from hypercorn.config import Config
from hypercorn.utils import wrap_app

from .. import logs
from ..kube import KubeApi, connect
from ..settings import Settings, load_settings
from .auth import Gate, Open, TokenGate
from .hub import UpdateHub
from .service import ActionsService

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def cancel_on_disconnect(app: ASGIApp) -> ASGIApp:
    """Stop a request's handler as soon as its client goes away. connectrpc only notices a disconnect when the
    next streamed message is sent, and a parent whose children are quiet may wait hours for one: without this its
    subscription would outlive the connection."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        disconnected = asyncio.Event()

        async def receive_noting_disconnect() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected.set()
            return message

        handler = asyncio.ensure_future(app(scope, receive_noting_disconnect, send))
        watcher = asyncio.ensure_future(disconnected.wait())
        try:
            await asyncio.wait({handler, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if not handler.done():
            handler.cancel()
            # The client is gone: there is nobody to report the cancellation to.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await handler
            return
        await handler

    return wrapped


def application(service: ActionsService) -> ASGIApp:
    return cancel_on_disconnect(ActionsServiceASGIApplication(service))


def hypercorn_config(address: str, cert_file: str | None = None, key_file: str | None = None) -> Config:
    config = Config()
    config.bind = [address]
    if cert_file and key_file:  # both or neither (settings.py)
        config.certfile, config.keyfile = cert_file, key_file
    config.accesslog = None
    config.errorlog = logging.getLogger("taskaction_operator.actions.http")  # our log format, not hypercorn's
    config.graceful_timeout = 2.0  # watches never end by themselves; on stop the SDK's informer re-watches
    return config


class ActionsServer:
    """The hub's watch and the endpoint, in the caller's event loop: `await start()`, `addresses`, `await stop()`."""

    def __init__(self, api: KubeApi, settings: Settings, address: str):
        self.api = api
        self.namespace = settings.actions_service_namespace
        self.config = hypercorn_config(address, settings.actions_service_tls_cert_file, settings.actions_service_tls_key_file)
        self.hub = UpdateHub(api, self.namespace)
        self.gate: Gate = Open()
        if settings.actions_service_auth:
            self.gate = TokenGate(
                api, self.namespace, settings.actions_service_token_audience, settings.actions_service_auth_cache_seconds, self.hub
            )
        self.addresses: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        sockets = self.config.create_sockets()  # bound now, so port 0 resolves before anyone needs the address
        listening = sockets.secure_sockets + sockets.insecure_sockets
        for sock in listening:
            sock.listen(self.config.backlog)  # connections wait in the backlog until hypercorn accepts, never refused
        self.addresses = [f"{host}:{port}" for host, port, *_ in (s.getsockname() for s in listening)]
        service = ActionsService(self.api, self.namespace, self.hub, self.gate)
        app = wrap_app(application(service), self.config.wsgi_max_body_size, "asgi")
        self._tasks = [
            asyncio.create_task(self.hub.run(), name="actions-service-watch"),
            asyncio.create_task(worker_serve(app, self.config, sockets=sockets, shutdown_trigger=self._stop.wait), name="actions-service"),
        ]
        log.info(
            "Actions service on %s (%s, %s) for namespace %s", ", ".join(self.addresses), "TLS" if sockets.secure_sockets else "cleartext",
            "tokens checked" if isinstance(self.gate, TokenGate) else "NO authentication", self.namespace,
        )

    async def stop(self) -> None:
        self._stop.set()
        watch, endpoint = self._tasks
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await endpoint


def main() -> None:
    settings = load_settings()
    logs.configure(settings.log_format, settings.log_level)
    asyncio.run(_standalone(settings))


async def _standalone(settings: Settings) -> None:
    api = await connect()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = ActionsServer(api, settings, settings.actions_service_address or DEFAULT_ADDRESS)
    try:
        await server.start()
        await stop.wait()
        await server.stop()
    finally:
        await api.close()


DEFAULT_ADDRESS = "127.0.0.1:8090"

if __name__ == "__main__":
    main()
