"""A stand-in for the Flyte cache service: flyteidl2's own CacheService (v2) Connect ASGI application on loopback
(tests/support/loopback_asgi.py). It keeps entries in memory as the real one (cache_service/manager) does: Get of an
unknown key is NOT_FOUND, Put of a known key without overwrite ALREADY_EXISTS, last_updated_at set on Put; a
reservation goes to whoever asks while it is free, expired or their own, for 3 heartbeats (at most 10 s each), and
is released by its owner only. It records every request, can be made to refuse them all (UNAVAILABLE) for a while,
and can be given entries (`seed`).
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.cacheservice import cacheservice_pb2 as base
from flyteidl2.cacheservice.v2 import cacheservice_pb2 as v2
from flyteidl2.cacheservice.v2.cacheservice_connect import CacheServiceASGIApplication
from google.protobuf.message import Message

from tests.support.loopback_asgi import ServedDouble, serving

# The cache service's defaults: maxReservationHeartbeat, heartbeatGracePeriodMultiplier.
MAX_HEARTBEAT = timedelta(seconds=10)
GRACE_HEARTBEATS = 3


class CacheServiceDouble(ServedDouble):
    def __init__(self) -> None:
        self.entries: dict[str, base.CachedOutput] = {}
        self.reservations: dict[str, base.Reservation] = {}
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
        self._received(request)
        asked, now = request.base_request, datetime.now(UTC)
        heartbeat = min(asked.heartbeat_interval.ToTimedelta(), MAX_HEARTBEAT) if asked.heartbeat_interval.ToTimedelta() else MAX_HEARTBEAT
        with self._lock:
            held = self.reservations.get(asked.key)
            if held is None or held.owner_id == asked.owner_id or held.expires_at.ToDatetime(UTC) < now:
                held = base.Reservation(key=asked.key, owner_id=asked.owner_id)
                held.heartbeat_interval.FromTimedelta(heartbeat)
                held.expires_at.FromDatetime(now + GRACE_HEARTBEATS * heartbeat)
                self.reservations[asked.key] = held
            return base.GetOrExtendReservationResponse(reservation=held)

    async def release_reservation(self, request: v2.ReleaseReservationRequest, ctx: RequestContext) -> base.ReleaseReservationResponse:
        self._received(request)
        with self._lock:
            held = self.reservations.get(request.base_request.key)
            if held is not None and held.owner_id == request.base_request.owner_id:
                del self.reservations[request.base_request.key]
        return base.ReleaseReservationResponse()

    def reserve(self, key: str, owner: str) -> None:
        """A reservation of someone else's, for as long as the test needs it."""
        held = base.Reservation(key=key, owner_id=owner)
        held.expires_at.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
        with self._lock:
            self.reservations[key] = held

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
