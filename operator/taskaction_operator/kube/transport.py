"""The HTTP side of the client: one aiohttp session to the API server, its TLS and its credentials.

Requests are plain paths and JSON (no generated client: kubernetes_asyncio's models and API classes cost the process
about 37 MiB of memory for nothing the operator reads; docs/benchmarks.md).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import orjson

# The `Authorization` header of the next request (a token may be refreshed), or None.
Authorization = Callable[[], Awaitable[str | None]]
# A number: the whole request; a pair: connecting, and each read (None: no bound).
Timeout = float | tuple[float, float | None]


def _client_timeout(timeout: Timeout) -> aiohttp.ClientTimeout:
    if isinstance(timeout, tuple):
        connect, read = timeout
        return aiohttp.ClientTimeout(connect=connect, sock_connect=connect, sock_read=read)
    return aiohttp.ClientTimeout(total=timeout)


class Transport:
    def __init__(
        self,
        server: str,
        tls: ssl.SSLContext | None = None,
        authorization: Authorization | None = None,
        tls_server_name: str | None = None,
    ):
        self.server = server.rstrip("/")
        self._authorization = authorization
        self._server_name = tls_server_name
        # No cap on the pool: the in-flight slots bound the short requests, and a cap would count the long-lived
        # watches against them. The environment is not trusted: aiohttp would read ~/.netrc on every request.
        connector = aiohttp.TCPConnector(limit=0, ssl=tls if tls is not None else True)
        self.session = aiohttp.ClientSession(connector=connector, trust_env=False, read_bufsize=2**21)

    async def request(
        self,
        method: str,
        path: str,
        timeout: Timeout,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> aiohttp.ClientResponse:
        """The response, not read yet (the caller releases it)."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        if self._authorization is not None and (value := await self._authorization()):
            headers["Authorization"] = value
        extra: dict[str, Any] = {"server_hostname": self._server_name} if self._server_name else {}
        return await self.session.request(
            method,
            self.server + path,
            params=params,
            data=orjson.dumps(body) if body is not None else None,
            headers=headers,
            timeout=_client_timeout(timeout),
            **extra,
        )

    async def close(self) -> None:
        await self.session.close()
