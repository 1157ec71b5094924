"""The one polling loop of the tests: wait until something holds, or fail saying what did not happen.

`message` may be a callable: it is called only on time-out, so it can report the state the wait ended in (an
object's status, a log tail). The predicate is asked once more after the deadline has passed, so a slow last poll
is never mistaken for a time-out.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
Message = str | Callable[[], str]


class WaitTimedOut(AssertionError):
    """The predicate did not hold in time; an AssertionError, so a test fails on it as on an assert."""


def _timed_out(message: Message, timeout: float) -> WaitTimedOut:
    return WaitTimedOut(f"{message() if callable(message) else message} (waited {timeout:g}s)")


def wait_until(predicate: Callable[[], T], timeout: float, message: Message, interval: float = 0.25) -> T:
    """The first truthy result of `predicate`, polled every `interval` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        expired = time.monotonic() > deadline
        result = predicate()
        if result:
            return result
        if expired:
            raise _timed_out(message, timeout)
        time.sleep(interval)


async def wait_until_async(predicate: Callable[[], T | Awaitable[T]], timeout: float, message: Message, interval: float = 0.25) -> T:
    """wait_until for a test on an event loop: the loop keeps running between polls; `predicate` may be async."""
    deadline = time.monotonic() + timeout
    while True:
        expired = time.monotonic() > deadline
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if expired:
            raise _timed_out(message, timeout)
        await asyncio.sleep(interval)
