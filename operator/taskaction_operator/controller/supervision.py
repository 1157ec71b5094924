"""Background loops that must outlive any one error: the garbage collector, the Event posters, the ghost sweep.

A loop that raises (a connection error while the API server restarts, a bug) is logged and started again after a
capped backoff, instead of ending silently for the life of the process. A loop that keeps crashing without a beat
(`beat`: one unit of its work done) makes the process not alive, so that its liveness probe restarts it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .. import metrics

logger = logging.getLogger(__name__)
BACKOFF_SECONDS = (1, 2, 5, 10, 30, 60)
CRASHES_BEFORE_UNHEALTHY = 3


class Supervisor:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._crashes: dict[str, int] = {}  # consecutive crashes since the loop's last beat

    def spawn(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        self._crashes[name] = 0
        self._tasks.append(asyncio.create_task(self._run(name, loop), name=name))

    def beat(self, name: str) -> None:
        """The loop did a unit of its work: its earlier crashes no longer count against the process."""
        self._crashes[name] = 0
        metrics.BACKGROUND_BEAT.labels(name).set(time.time())

    def alive(self) -> bool:
        return all(crashes < CRASHES_BEFORE_UNHEALTHY for crashes in self._crashes.values())

    async def _run(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await loop()
                logger.error("background loop %s returned; starting it again", name)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("background loop %s failed; starting it again", name)
            self._crashes[name] += 1
            metrics.BACKGROUND_CRASHES.labels(name).inc()
            await asyncio.sleep(BACKOFF_SECONDS[min(self._crashes[name], len(BACKOFF_SECONDS)) - 1])

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
