"""API errors: the one place a failed response is turned into an ApiError."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp

T = TypeVar("T")


# What a request can fail with besides an answer: the connection (an API server restarting), a timeout.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def api_error(status: int, payload: bytes) -> ApiError:
    """From a non-2xx response: its Status object, or its text when the server answered in plain text (e.g. "404 page
    not found" for an unknown resource: the CRD is not installed)."""
    try:
        data: Any = json.loads(payload) if payload else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    return ApiError(status, data.get("reason", ""), data.get("message", payload.decode(errors="replace")))


async def unless_missing(call: Awaitable[T]) -> T | None:
    """The call's result, or None when the object is not there (404)."""
    try:
        return await call
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
