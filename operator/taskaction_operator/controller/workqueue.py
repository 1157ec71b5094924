"""A keyed work queue in the manner of client-go's: a key is queued at most once, never handled by two workers
at the same time, and re-queued if it changed while being handled; delayed adds keep the earliest deadline. It
reports client-go's workqueue metrics (metrics.WORKQUEUE_*) under its name."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Hashable

from .. import metrics


TIMER_RESOLUTION_SECONDS = 0.001  # uvloop's


class WorkQueue:
    def __init__(self, name: str = metrics.CONTROLLER) -> None:
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._queued: set[Hashable] = set()
        self._processing: dict[Hashable, float] = {}  # key -> when its processing started (monotonic)
        self._dirty: set[Hashable] = set()
        # Delayed adds: each key's deadline (loop time), a heap of them (entries of moved or forgotten deadlines are
        # skipped when they come up) and one loop timer for the earliest: a loop timer per key cost 0.7 KiB each.
        self._deadlines: dict[Hashable, float] = {}
        self._heap: list[tuple[float, int, Hashable]] = []
        self._order = itertools.count()  # ties in the heap are broken by it, never by comparing keys
        self._timer: asyncio.Handle | None = None  # uvloop's, for a deadline under 0.5 ms away, has no when()
        self._timer_at = 0.0
        self._added_at: dict[Hashable, float] = {}
        self._delayed_while_processing: set[Hashable] = set()
        labels = (name, name)
        self._adds = metrics.WORKQUEUE_ADDS.labels(*labels)
        self._retries = metrics.WORKQUEUE_RETRIES.labels(*labels)
        self._queue_seconds = metrics.WORKQUEUE_QUEUE_SECONDS.labels(*labels)
        self._work_seconds = metrics.WORKQUEUE_WORK_SECONDS.labels(*labels)
        metrics.WORKQUEUE_DEPTH.labels(*labels).set_function(self.__len__)
        metrics.WORKQUEUE_UNFINISHED_SECONDS.labels(*labels).set_function(self.unfinished_work_seconds)
        metrics.WORKQUEUE_LONGEST_SECONDS.labels(*labels).set_function(self.longest_running_seconds)

    def add(self, key: Hashable) -> None:
        if key in self._processing:
            if key not in self._dirty:
                self._adds.inc()
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        self._adds.inc()
        self._queued.add(key)
        self._added_at[key] = time.monotonic()
        self._queue.put_nowait(key)

    def add_after(self, key: Hashable, delay: float) -> None:
        self._retries.inc()
        if key in self._processing:
            self._delayed_while_processing.add(key)
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        deadline = self._deadlines.get(key)
        if deadline is not None and deadline <= when:
            return
        self._deadlines[key] = when
        heapq.heappush(self._heap, (when, next(self._order), key))
        self._arm(loop)

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop timer set for the earliest deadline in the heap."""
        if not self._heap:
            return
        earliest = self._heap[0][0]
        if self._timer is not None:
            if self._timer_at <= earliest:
                return
            self._timer.cancel()
        self._timer, self._timer_at = loop.call_at(earliest, self._fire), earliest

    def _fire(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time() + TIMER_RESOLUTION_SECONDS  # a loop timer may fire that much early
        while self._heap and self._heap[0][0] <= now:
            when, _, key = heapq.heappop(self._heap)
            if self._deadlines.get(key) == when:
                del self._deadlines[key]
                self.add(key)
        self._arm(loop)

    async def get(self) -> Hashable:
        key = await self._queue.get()
        self._queued.discard(key)
        now = time.monotonic()
        self._queue_seconds.observe(now - self._added_at.pop(key, now))
        self._processing[key] = now
        return key

    def requeued_after(self, key: Hashable) -> bool:
        """Whether the key, being processed, was given a delayed add (controller-runtime's result requeue_after)."""
        return key in self._delayed_while_processing

    def done(self, key: Hashable) -> None:
        started = self._processing.pop(key, None)
        if started is not None:
            self._work_seconds.observe(time.monotonic() - started)
        self._delayed_while_processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def forget(self, key: Hashable) -> None:
        """Drop a pending delayed add (the object is gone)."""
        self._deadlines.pop(key, None)

    def __len__(self) -> int:
        return len(self._queued)

    def unfinished_work_seconds(self) -> float:
        now = time.monotonic()
        return sum(now - started for started in self._processing.values())

    def longest_running_seconds(self) -> float:
        now = time.monotonic()
        return max((now - started for started in self._processing.values()), default=0.0)

    @property
    def delayed(self) -> int:
        return len(self._deadlines)
