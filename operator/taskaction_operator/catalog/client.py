"""The Flyte cache service over Connect (flyteidl2.cacheservice.v2.CacheService), as flyteplugins'
catalog/cache_service/client.go uses it: Get, then a hit's outputs copied to where the action's outputs belong (the
executor's OutputWriter.Put), and Put of the output URI after a success; for serializable caching the reservation of
a key (GetOrExtendReservation, ReleaseReservation).

Never raises for trouble with the service or the store: a lookup that fails is CACHE_LOOKUP_FAILURE, a write-back that
fails CACHE_PUT_FAILURE, a reservation that cannot be had a Reservation with the reason, with the reason in one line. Differences from upstream: a hit's output URI must be of a scheme
the operator reads (TASKACTION_STORAGE_SCHEMES), as a cache service must not make it read a local file; every call is
bounded by a timeout (upstream uses Go's default HTTP client, which has none).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.cacheservice import cacheservice_pb2 as base
from flyteidl2.cacheservice.v2 import cacheservice_pb2 as v2
from flyteidl2.cacheservice.v2.cacheservice_connect import CacheServiceClient
from flyteidl2.core import catalog_pb2, identifier_pb2, literals_pb2
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import DecodeError

from .. import metrics
from ..storage.filesystems import StorageSettings, scheme_of, secrets_of
from ..storage.objects import read_object, write_object
from ..storage.outputs import one_line

HIT = catalog_pb2.CACHE_HIT
MISS = catalog_pb2.CACHE_MISS
POPULATED = catalog_pb2.CACHE_POPULATED
LOOKUP_FAILURE = catalog_pb2.CACHE_LOOKUP_FAILURE
PUT_FAILURE = catalog_pb2.CACHE_PUT_FAILURE

# The entry's metadata (cache_service/metadata_keys.go).
TASK_VERSION_KEY = "task-version"
EXEC_NAME_KEY = "execution-name"
EXEC_DOMAIN_KEY = "exec-domain"
EXEC_PROJECT_KEY = "exec-project"
EXEC_NODE_ID_KEY = "exec-node"
EXEC_TASK_ATTEMPT_KEY = "exec-attempt"
EXEC_ORG_KEY = "exec-org"


@dataclass(frozen=True)
class CacheAnswer:
    status: int  # flyteidl2.core.CatalogCacheStatus
    reason: str = ""  # why it failed, one line


@dataclass(frozen=True)
class Reservation:
    owner: str = ""  # who holds the key's reservation; empty when it could not be had
    reason: str = ""  # why not, one line


@dataclass(frozen=True)
class Execution:
    """The attempt that writes an entry (the metadata upstream's cacheMetadataForUpload gives it)."""

    project: str
    domain: str
    run_name: str
    action_name: str
    retry_attempt: int  # 0-based


def scope(task_id: identifier_pb2.Identifier) -> v2.Identifier:
    return v2.Identifier(org=task_id.org, project=task_id.project, domain=task_id.domain)


def get_request(key: str, task_id: identifier_pb2.Identifier) -> v2.GetCacheRequest:
    return v2.GetCacheRequest(base_request=base.GetCacheRequest(key=key), identifier=scope(task_id))


def put_request(key: str, task_id: identifier_pb2.Identifier, outputs_uri: str, execution: Execution, now: datetime) -> v2.PutCacheRequest:
    created = timestamp_pb2.Timestamp()
    created.FromDatetime(now)
    values = {
        TASK_VERSION_KEY: task_id.version,
        EXEC_PROJECT_KEY: execution.project,
        EXEC_DOMAIN_KEY: execution.domain,
        EXEC_NAME_KEY: execution.run_name,
        EXEC_NODE_ID_KEY: execution.action_name,
        EXEC_TASK_ATTEMPT_KEY: str(execution.retry_attempt),
        EXEC_ORG_KEY: "",
    }
    metadata = base.Metadata(source_identifier=task_id, key_map=base.KeyMapMetadata(values=values), created_at=created)
    return v2.PutCacheRequest(
        base_request=base.PutCacheRequest(
            key=key, output=base.CachedOutput(output_uri=outputs_uri, metadata=metadata), overwrite=base.OverwriteOutput(overwrite=False)
        ),
        identifier=scope(task_id),
    )


def reservation_request(key: str, task_id: identifier_pb2.Identifier, owner: str, heartbeat_seconds: float) -> v2.GetOrExtendReservationRequest:
    heartbeat = duration_pb2.Duration()
    heartbeat.FromTimedelta(timedelta(seconds=heartbeat_seconds))
    return v2.GetOrExtendReservationRequest(
        base_request=base.GetOrExtendReservationRequest(key=key, owner_id=owner, heartbeat_interval=heartbeat), identifier=scope(task_id)
    )


def release_request(key: str, task_id: identifier_pb2.Identifier, owner: str) -> v2.ReleaseReservationRequest:
    return v2.ReleaseReservationRequest(base_request=base.ReleaseReservationRequest(key=key, owner_id=owner), identifier=scope(task_id))


def entry_problem(output: base.CachedOutput, now: datetime, max_age_seconds: float, schemes: tuple[str, ...]) -> str | None:
    """Why an entry the service returned is no hit (None: it is one). Too old counts as a miss, as upstream."""
    which = output.WhichOneof("output")
    if which is None or not output.HasField("metadata"):
        return "received malformed response from cache service"
    if max_age_seconds > 0:
        if not output.metadata.HasField("last_updated_at"):
            return "received cache metadata without last_updated_at"
        if now - output.metadata.last_updated_at.ToDatetime(now.tzinfo) > timedelta(seconds=max_age_seconds):
            return "artifact over age limit"
    if which == "output_uri" and scheme_of(output.output_uri) not in schemes:
        return f"cached outputs at {output.output_uri!r}: not a scheme the operator reads ({', '.join(schemes)})"
    return None


def _counted(call: str, answer: CacheAnswer) -> CacheAnswer:
    metrics.CACHE_CALLS.labels(call, catalog_pb2.CatalogCacheStatus.Name(answer.status).removeprefix("CACHE_").lower()).inc()
    return answer


class CacheClient:
    def __init__(
        self, url: str, storage: StorageSettings, schemes: tuple[str, ...], timeout_seconds: float, max_age_seconds: float = 0.0
    ):
        self._service = CacheServiceClient(url.rstrip("/"), timeout_ms=int(timeout_seconds * 1000))
        self._storage = storage
        self._schemes = schemes
        self._timeout = timeout_seconds
        self._max_age = max_age_seconds

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._service.close()

    def _reason(self, what: str, exc: BaseException) -> str:
        kind = exc.code.value if isinstance(exc, ConnectError) else type(exc).__name__
        return one_line(f"{what}: {kind}: {exc}", secrets_of(self._storage))

    async def get(self, key: str, task_id: identifier_pb2.Identifier, outputs_uri: str, now: datetime) -> CacheAnswer:
        """A hit has its outputs written to `outputs_uri` before it is answered."""
        return _counted("get", await self._get(key, task_id, outputs_uri, now))

    async def _get(self, key: str, task_id: identifier_pb2.Identifier, outputs_uri: str, now: datetime) -> CacheAnswer:
        try:
            response = await self._service.get(get_request(key, task_id))
        except ConnectError as exc:
            if exc.code is Code.NOT_FOUND:
                return CacheAnswer(MISS)
            return CacheAnswer(LOOKUP_FAILURE, self._reason("cache lookup", exc))
        except Exception as exc:  # the service is away, or answers nonsense
            return CacheAnswer(LOOKUP_FAILURE, self._reason("cache lookup", exc))
        problem = entry_problem(response.output, now, self._max_age, self._schemes)
        if problem == "artifact over age limit":
            return CacheAnswer(MISS, problem)
        if problem is not None:
            return CacheAnswer(LOOKUP_FAILURE, problem)
        try:
            await asyncio.wait_for(self._copy_outputs(response.output, outputs_uri), self._timeout)
        except Exception as exc:
            return CacheAnswer(LOOKUP_FAILURE, self._reason(f"copying the cached outputs to {outputs_uri}", exc))
        return CacheAnswer(HIT)

    async def _copy_outputs(self, output: base.CachedOutput, outputs_uri: str) -> None:
        if output.WhichOneof("output") == "output_literals":
            data = output.output_literals.SerializeToString()
        else:
            if output.output_uri == outputs_uri:
                return
            data = await read_object(output.output_uri, self._storage)
            try:
                literals_pb2.LiteralMap.FromString(data)
            except DecodeError as exc:
                raise ValueError(f"{output.output_uri} holds no outputs ({len(data)} bytes)") from exc
        await write_object(outputs_uri, data, self._storage)

    async def put(self, key: str, task_id: identifier_pb2.Identifier, outputs_uri: str, execution: Execution, now: datetime) -> CacheAnswer:
        return _counted("put", await self._put(key, task_id, outputs_uri, execution, now))

    async def _put(self, key: str, task_id: identifier_pb2.Identifier, outputs_uri: str, execution: Execution, now: datetime) -> CacheAnswer:
        try:
            await self._service.put(put_request(key, task_id, outputs_uri, execution, now))
        except ConnectError as exc:
            if exc.code is Code.ALREADY_EXISTS:
                return CacheAnswer(POPULATED)
            return CacheAnswer(PUT_FAILURE, self._reason("cache write-back", exc))
        except Exception as exc:
            return CacheAnswer(PUT_FAILURE, self._reason("cache write-back", exc))
        return CacheAnswer(POPULATED)

    async def reserve(self, key: str, task_id: identifier_pb2.Identifier, owner: str, heartbeat_seconds: float) -> Reservation:
        """Take the reservation of `key` for `owner`, or extend it; the answer names who holds it."""
        try:
            response = await self._service.get_or_extend_reservation(reservation_request(key, task_id, owner, heartbeat_seconds))
        except Exception as exc:
            metrics.CACHE_CALLS.labels("reserve", "failed").inc()
            return Reservation(reason=self._reason("cache reservation", exc))
        metrics.CACHE_CALLS.labels("reserve", "held" if response.reservation.owner_id == owner else "held_by_another").inc()
        return Reservation(owner=response.reservation.owner_id)

    async def release(self, key: str, task_id: identifier_pb2.Identifier, owner: str) -> str:
        """Why the release failed ("" when it did not): only reported, as upstream; the reservation lapses anyway."""
        try:
            await self._service.release_reservation(release_request(key, task_id, owner))
        except Exception as exc:
            metrics.CACHE_CALLS.labels("release", "failed").inc()
            return self._reason("releasing the cache reservation", exc)
        metrics.CACHE_CALLS.labels("release", "released").inc()
        return ""
