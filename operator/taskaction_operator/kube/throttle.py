"""The client-side rate limit: a token bucket shared by every request of the process."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """qps tokens a second, up to burst stored; `take` waits for one."""

    def __init__(self, qps: float, burst: int):
        self.qps = qps
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.qps)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.qps)
