"""A stand-in for the Flyte cache service: flyteidl2's own CacheService (v2) Connect ASGI application on loopback
(tests/support/loopback_asgi.py). It keeps entries in memory as the real one (cache_service/manager) does: Get of an
unknown key is NOT_FOUND, Put of a known key without overwrite ALREADY_EXISTS, last_updated_at set on Put. It records
every request, can be made to refuse them all (UNAVAILABLE) for a while, and can be given entries (`seed`).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.cacheservice import cacheservice_pb2 as base
from flyteidl2.cacheservice.v2 import cacheservice_pb2 as v2
from flyteidl2.cacheservice.v2.cacheservice_connect import CacheServiceASGIApplication
from google.protobuf.message import Message

from tests.support.loopback_asgi import ServedDouble, serving


class CacheServiceDouble(ServedDouble):
    def __init__(self) -> None:
        self.entries: dict[str, base.CachedOutput] = {}
        self.requests: list[Message] = []
        self._lock = threading.Lock()
        super().__init__("cache-service-double")

    def application(self) -> CacheServiceASGIApplication:
        return CacheServiceASGIApplication(self)

    def _received(self, request: Message) -> None:
        self.refuse_while_down("cache service")
        with self._lock:
            self.requests.append(request)

    async def get(self, request: v2.GetCacheRequest, ctx: RequestContext) -> base.GetCacheResponse:
        self._received(request)
        with self._lock:
            entry = self.entries.get(request.base_request.key)
        if entry is None:
            raise ConnectError(Code.NOT_FOUND, f"cache entry {request.base_request.key!r} not found")
        return base.GetCacheResponse(output=entry)

    async def put(self, request: v2.PutCacheRequest, ctx: RequestContext) -> base.PutCacheResponse:
        self._received(request)
        key = request.base_request.key
        with self._lock:
            if key in self.entries and not request.base_request.overwrite.overwrite:
                raise ConnectError(Code.ALREADY_EXISTS, f"cache entry {key!r} already exists")
            entry = base.CachedOutput()
            entry.CopyFrom(request.base_request.output)
            entry.metadata.last_updated_at.FromDatetime(datetime.now(UTC))
            self.entries[key] = entry
        return base.PutCacheResponse()

    async def delete(self, request: v2.DeleteCacheRequest, ctx: RequestContext) -> base.DeleteCacheResponse:
        raise ConnectError(Code.UNIMPLEMENTED, "not used by the executor")

    async def get_or_extend_reservation(self, request: v2.GetOrExtendReservationRequest, ctx: RequestContext) -> base.GetOrExtendReservationResponse:
        raise ConnectError(Code.UNIMPLEMENTED, "not used by the operator")

    async def release_reservation(self, request: v2.ReleaseReservationRequest, ctx: RequestContext) -> base.ReleaseReservationResponse:
        raise ConnectError(Code.UNIMPLEMENTED, "not used by the operator")

    def seed(self, key: str, output_uri: str) -> None:
        """An entry as an earlier run's write-back leaves it."""
        entry = base.CachedOutput(output_uri=output_uri)
        entry.metadata.last_updated_at.FromDatetime(datetime.now(UTC))
        with self._lock:
            self.entries[key] = entry

    def received(self, kind: type[Message]) -> list[Message]:
        with self._lock:
            return [r for r in self.requests if isinstance(r, kind)]


def cache_service() -> AbstractContextManager[CacheServiceDouble]:
    return serving(CacheServiceDouble())
