"""/healthz and /readyz of the operator process, served by every replica (the standby too).

Liveness means the event loop answers and every background loop works (none keeps crashing: see
controller/supervision.py). Readiness means this replica is doing the work: it leads (or leader election is off),
kopf has finished starting up and the controller's watches listed what there is.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web


async def start(address: str, port: int, ready: Callable[[], bool], alive: Callable[[], bool]) -> web.AppRunner:
    async def healthz(_: web.Request) -> web.Response:
        is_alive = alive()
        return web.json_response({"alive": is_alive}, status=200 if is_alive else 500)

    async def readyz(_: web.Request) -> web.Response:
        is_ready = ready()
        return web.json_response({"ready": is_ready}, status=200 if is_ready else 503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port).start()
    return runner
