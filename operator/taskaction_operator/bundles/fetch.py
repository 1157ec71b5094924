"""Reading a bundle from object storage: ranged reads in order, a few in flight, each retried.

The object is read through its source (objects.source_for): s3:// through obstore with the endpoint and credentials
of the environment (AWS_* / FLYTE_AWS_*; never from arguments), other schemes through the operator's fsspec
filesystems (file://, gs://, https://...). It runs on a private event loop in a background thread; the caller
iterates the chunks (buffers: `bytes` or obstore's `Bytes`) in order (`Download.chunks`).

Errors are classified once (`classify`): not found, access denied, transient (retried with exponential backoff,
bounded in tries and in total time), or permanent (failed at once). Messages never carry a secret: URIs are shown
without user info or query string, and the secret keys of the environment are scrubbed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import os
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..storage.filesystems import FromEnvironment, secrets_of
from .errors import (
    BUNDLE_ACCESS_DENIED,
    BUNDLE_DOWNLOAD_FAILED,
    BUNDLE_INVALID_ARGUMENTS,
    BUNDLE_NOT_FOUND,
    BundleError,
    BundleFailure,
)
from .objects import REQUEST_TIMEOUT_SECONDS, FsspecSource, RemoteObject, S3Source, source_for

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
DEFAULT_CONCURRENCY = 4
# Other environment values that are secrets, whichever pair s3_options picked.
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "FLYTE_AWS_SECRET_ACCESS_KEY")

_TRANSIENT_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.ETIMEDOUT,
        errno.EPIPE,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EAGAIN,
        errno.EBUSY,  # 503 / SlowDown / ServiceUnavailable, as fsspec's S3-style filesystems map it
        getattr(errno, "EREMOTEIO", errno.EIO),  # 500 InternalError, likewise
    }
)
# Exception class names (anywhere in the MRO or the cause chain) of network trouble in aiohttp, botocore, urllib3,
# http.client and fsspec, matched by name so that none of them has to be importable.
_TRANSIENT_NAMES = frozenset(
    {
        "ClientConnectionError",
        "ClientOSError",
        "ClientPayloadError",
        "ServerDisconnectedError",
        "ServerTimeoutError",
        "ConnectionTimeoutError",
        "SocketTimeoutError",
        "EndpointConnectionError",
        "ConnectionClosedError",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "ResponseStreamingError",
        "IncompleteReadError",
        "IncompleteRead",
        "ProtocolError",
        "HTTPClientError",
        "FSTimeoutError",
    }
)
_DENIED_NAMES = frozenset(
    {
        "NoCredentialsError",
        "PartialCredentialsError",
        "CredentialRetrievalError",
        "PermissionDeniedError",  # obstore: 403
        "UnauthenticatedError",  # obstore: 401
    }
)
# obstore's other failures (GenericError) carry the HTTP status in their text only, when there was an answer.
_OBSTORE_STATUS = re.compile(r"status code: (\d{3})")
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "TooManyRequests",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "RequestTimeTooSkewed",
    }
)
_DENIED_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "AccountProblem"}
)


def display_uri(uri: str) -> str:
    """The URI without user info, query or fragment (presigned URLs carry their signature in the query)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparseable uri>"
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def secrets() -> tuple[str, ...]:
    env = os.environ
    extra = tuple(env[name] for name in SECRET_ENV if len(env.get(name) or "") >= 4)
    return tuple(dict.fromkeys(secrets_of(FromEnvironment()) + extra))


def scrub(text: str) -> str:
    from ..storage.outputs import one_line  # here: storage.outputs loads flyteidl2, which only a failure needs

    return one_line(text, secrets())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: `tries` attempts per request, 0.5/1/2/4 s apart (at most, jittered down to
    half), all within `deadline` seconds of the request's first failure. Worst case, a store that accepts
    connections and never answers: one read timeout (20 s, storage.s3) + 35 s = 55 s."""

    tries: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    deadline: float = 35.0

    def delay(self, attempt: int) -> float:
        """Sleep before attempt `attempt + 1` (attempt counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return ceiling * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Classified:
    error: BundleError
    transient: bool
    message: str


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _response_code(exc: BaseException) -> tuple[str | None, int | None]:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return code, status
    status = getattr(exc, "status", None)  # aiohttp.ClientResponseError
    if isinstance(status, int):
        return None, status
    if type(exc).__name__ == "GenericError":
        found = _OBSTORE_STATUS.search(str(exc))
        return None, int(found.group(1)) if found else None
    return None, None


def classify(exc: BaseException, uri: str) -> Classified:
    """Storage exception -> contract error, transient or not, and a one-line message without secrets."""
    if isinstance(exc, BundleFailure):
        return Classified(exc.error, False, exc.message)
    where = display_uri(uri)
    text = str(exc).strip()
    detail = f"{type(exc).__name__}" + (f": {text}" if text else "")
    for link in _chain(exc):
        names = {cls.__name__ for cls in type(link).__mro__}
        code, status = _response_code(link)
        if names & _DENIED_NAMES or code in _DENIED_CODES or status in (401, 403):
            return Classified(BUNDLE_ACCESS_DENIED, False, scrub(f"reading {where}: access denied ({detail})"))
        if code in ("NoSuchKey", "NoSuchBucket") or status == 404:
            return Classified(BUNDLE_NOT_FOUND, False, scrub(f"{where} does not exist ({detail})"))
        if (
            names & _TRANSIENT_NAMES
            or ("GenericError" in names and status is None)  # obstore without an answer: the connection's trouble
            or code in _TRANSIENT_CODES
            or (status is not None and (status >= 500 or status in (408, 429)))
        ):
            return Classified(BUNDLE_DOWNLOAD_FAILED, True, scrub(f"reading {where}: {detail}"))
    if isinstance(exc, IsADirectoryError):
        return Classified(BUNDLE_NOT_FOUND, False, f"{where} is a directory, not a bundle")
    if isinstance(exc, FileNotFoundError):
        return Classified(BUNDLE_NOT_FOUND, False, scrub(f"{where} does not exist"))
    if isinstance(exc, PermissionError):
        return Classified(BUNDLE_ACCESS_DENIED, False, scrub(f"reading {where}: access denied ({detail})"))
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return Classified(BUNDLE_DOWNLOAD_FAILED, True, scrub(f"reading {where}: {detail}"))
    if isinstance(exc, OSError) and exc.errno in _TRANSIENT_ERRNOS:
        return Classified(BUNDLE_DOWNLOAD_FAILED, True, scrub(f"reading {where}: {detail}"))
    return Classified(BUNDLE_DOWNLOAD_FAILED, False, scrub(f"reading {where}: {detail}"))


FIRST_RANGE = 1024 * 1024


def read_ranges(size: int, chunk_size: int) -> list[tuple[int, int]]:
    """[start, end) ranges covering `size` bytes: doubling from FIRST_RANGE up to `chunk_size`, so that the inflate
    starts on the first MiB instead of waiting for a whole chunk."""
    ranges = []
    start, length = 0, min(FIRST_RANGE, chunk_size)
    while start < size:
        end = min(size, start + length)
        ranges.append((start, end))
        start, length = end, min(chunk_size, length * 2)
    return ranges


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0


class Download:
    """One bundle object: `stat()` it, then iterate `chunks()` (in order, `concurrency` ranged reads in flight).

    Use as a context manager: the event loop thread and the storage clients are closed on exit."""

    def __init__(
        self,
        uri: str,
        *,
        policy: RetryPolicy | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        concurrency: int = DEFAULT_CONCURRENCY,
        request_timeout: float = REQUEST_TIMEOUT_SECONDS,
        on_request: Callable[[int, int], None] | None = None,
    ) -> None:
        self.uri = uri
        self.policy = policy or RetryPolicy()
        self.chunk_size = max(64 * 1024, chunk_size)
        self.concurrency = max(1, concurrency)
        self.request_timeout = request_timeout
        self.on_request = on_request
        self.stats = Stats()
        self._started = time.monotonic()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bundle-download", daemon=True)
        self._thread.start()
        self._source: S3Source | FsspecSource | None = None

    # The event loop thread.

    def __enter__(self) -> Download:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._loop.is_running():
            return
        try:
            if self._source is not None:
                asyncio.run_coroutine_threadsafe(self._source.close(), self._loop).result(timeout=10)
        except Exception as exc:  # closing: nothing left to report it to
            logger.debug("closing the storage client: %s", type(exc).__name__)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    async def _get_source(self) -> S3Source | FsspecSource:
        if self._source is None:
            try:
                self._source = source_for(self.uri)
            except ValueError as exc:  # no filesystem for the scheme, no bucket
                raise BundleFailure(BUNDLE_INVALID_ARGUMENTS, scrub(f"--bundle {display_uri(self.uri)}: {exc}")) from exc
        return self._source

    async def _with_retries(self, what: str, call: Callable[[], Any]) -> Any:
        """`call` until it succeeds, fails for good, or the retry budget is spent: `tries` attempts, and no more
        than `deadline` seconds from the first failure (retries are cut short to fit in it)."""
        attempt = 0
        started = time.monotonic()
        first_failure: float | None = None
        while True:
            attempt += 1
            self.stats.requests += 1
            timeout = self.request_timeout
            if first_failure is not None:
                timeout = min(timeout, max(0.5, first_failure + self.policy.deadline - time.monotonic()))
            try:
                async with asyncio.timeout(timeout):
                    return await call()
            except BundleFailure:
                raise
            except Exception as exc:
                if isinstance(exc, TimeoutError) and not str(exc):
                    exc = TimeoutError(f"no answer within {timeout:g}s")
                verdict = classify(exc, self.uri)
                now = time.monotonic()
                if first_failure is None:
                    first_failure = now
                delay = self.policy.delay(attempt)
                if not verdict.transient:
                    raise BundleFailure(verdict.error, verdict.message) from exc
                if attempt >= self.policy.tries or now - first_failure + delay >= self.policy.deadline:
                    raise BundleFailure(
                        verdict.error, f"{verdict.message} (gave up after {attempt} tries in {now - started:.1f}s)"
                    ) from exc
                self.stats.retries += 1
                logger.warning("%s failed (try %d of %d), again in %.1fs: %s", what, attempt, self.policy.tries, delay, verdict.message)
                await asyncio.sleep(delay)

    # The caller's side.

    def stat(self) -> RemoteObject:
        async def _stat() -> RemoteObject:
            source = await self._get_source()
            return await self._with_retries("stat", source.stat)

        return self._run(_stat())

    async def _read(self, start: int, end: int, size: int) -> Any:
        source = await self._get_source()
        if self.on_request is not None:
            self.on_request(start, end)
        data = await self._with_retries(f"reading bytes {start}-{end}", lambda: source.read(start, end))
        if len(data) != end - start:
            if len(data) == size:  # a server that ignores Range answers with the whole object
                data = data[start:end]
            else:
                raise BundleFailure(
                    BUNDLE_DOWNLOAD_FAILED,
                    f"reading {display_uri(self.uri)}: got {len(data)} bytes for range {start}-{end} of {size}",
                )
        return data

    async def _read_all(self) -> Any:
        source = await self._get_source()
        if self.on_request is not None:
            self.on_request(0, -1)
        return await self._with_retries("reading", source.read_all)

    def chunks(self, obj: RemoteObject) -> Iterator[Any]:
        """The object's bytes in order. Unknown size: one whole read."""
        if obj.size is None:
            data = self._run(self._read_all())
            self.stats.bytes += len(data)
            for start in range(0, len(data), self.chunk_size):
                yield data[start : start + self.chunk_size]
            return
        size = obj.size
        ranges = iter(read_ranges(size, self.chunk_size))
        window: deque[concurrent.futures.Future[Any]] = deque()

        def submit() -> None:
            nxt = next(ranges, None)
            if nxt is not None:
                window.append(asyncio.run_coroutine_threadsafe(self._read(nxt[0], nxt[1], size), self._loop))

        for _ in range(self.concurrency):
            submit()
        try:
            while window:
                data = window.popleft().result()
                submit()
                self.stats.bytes += len(data)
                yield data
        finally:
            for future in window:
                future.cancel()
