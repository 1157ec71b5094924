"""Storage settings and S3 options, and the async fsspec filesystems for every scheme but S3 (storage.s3 reads S3
through obstore; storage.objects picks the one or the other by URI).

- S3 options (`s3_options`): endpoint, region and credentials come from the settings (TASKACTION_STORAGE_*), else
  from the environment the Flyte SDK reads: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION, or
  FLYTE_AWS_ENDPOINT / FLYTE_AWS_ACCESS_KEY_ID / FLYTE_AWS_SECRET_ACCESS_KEY. With none of them, obstore's chain
  applies (storage.s3).
- `file://` (or a bare path): the local filesystem behind fsspec's AsyncFileSystemWrapper, so every call runs in a
  worker thread and the event loop never blocks on the disk.
- Any other scheme: whatever async implementation fsspec has registered for it (gcsfs, adlfs), if installed.

One filesystem per event loop and scheme: an aiohttp-based client is bound to the loop that opened its session.
`close_filesystems()` forgets them at shutdown. Credentials are never logged nor put in a repr.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:  # fsspec is imported where a filesystem is made: S3 is read without it
    from fsspec.asyn import AsyncFileSystem

S3_SCHEMES = frozenset({"s3", "s3a"})
LOCAL_SCHEMES = frozenset({"", "file", "local"})

class StorageSettings(Protocol):
    """The four settings storage reads (the operator's Settings has them as TASKACTION_STORAGE_*). Asked for by shape,
    so that storage, and the in-pod bootstrap that uses it, never load the operator's settings."""

    storage_endpoint: str | None
    storage_region: str | None
    storage_access_key_id: str | None
    storage_secret_access_key: str | None


@dataclass(frozen=True)
class FromEnvironment:
    """No storage settings: endpoint, region and credentials come from the environment alone (a task pod)."""

    storage_endpoint: str | None = None
    storage_region: str | None = None
    storage_access_key_id: str | None = None
    storage_secret_access_key: str | None = None


def scheme_of(uri: str) -> str:
    return urlsplit(uri).scheme.lower()


@dataclass(frozen=True)
class S3Options:
    """Where and as whom to reach S3. Hashable (the cache key); the secret stays out of the repr."""

    endpoint_url: str | None = None
    region: str | None = None
    key: str | None = None
    secret: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """For logs: never the secret, nor the key id."""
        return (
            f"endpoint={self.endpoint_url or 'AWS'} region={self.region or 'default'} "
            f"credentials={'static' if self.key else 'default chain'}"
        )


def _first(*values: str | None) -> str | None:
    for value in values:
        if value:
            return value
    return None


def s3_options(settings: StorageSettings, environ: Mapping[str, str] | None = None) -> S3Options:
    """Settings first, then AWS_*, then FLYTE_AWS_*. Key and secret are taken as a pair from one source."""
    env = os.environ if environ is None else environ
    if settings.storage_access_key_id and settings.storage_secret_access_key:
        key, secret = settings.storage_access_key_id, settings.storage_secret_access_key
    elif env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        key, secret = env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    elif env.get("FLYTE_AWS_ACCESS_KEY_ID") and env.get("FLYTE_AWS_SECRET_ACCESS_KEY"):
        key, secret = env["FLYTE_AWS_ACCESS_KEY_ID"], env["FLYTE_AWS_SECRET_ACCESS_KEY"]
    else:
        key = secret = None
    return S3Options(
        endpoint_url=_first(settings.storage_endpoint, env.get("FLYTE_AWS_ENDPOINT"), env.get("AWS_ENDPOINT_URL")),
        region=_first(settings.storage_region, env.get("AWS_REGION"), env.get("AWS_DEFAULT_REGION")),
        key=key,
        secret=secret,
    )


MIN_SCRUBBED_CHARS = 4


def secrets_of(settings: StorageSettings, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Values that must never appear in a message (scrubbed from error texts): the secret keys. Access key ids are
    identifiers that S3 itself echoes (InvalidAccessKeyId); values too short to be real secrets are left alone, or
    scrubbing them would mangle every message."""
    options = s3_options(settings, environ)
    candidates = {options.secret, settings.storage_secret_access_key}
    return tuple(v for v in candidates if v and len(v) >= MIN_SCRUBBED_CHARS)


def _local_filesystem() -> AsyncFileSystem:
    from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper
    from fsspec.implementations.local import LocalFileSystem

    return AsyncFileSystemWrapper(LocalFileSystem(), asynchronous=True)


def _other_filesystem(scheme: str) -> AsyncFileSystem:
    import fsspec
    from fsspec.implementations.asyn_wrapper import AsyncFileSystemWrapper

    try:
        cls = fsspec.get_filesystem_class(scheme)
    except (ValueError, ImportError) as exc:
        raise ValueError(f"no filesystem for scheme {scheme!r}: {exc}") from exc
    if getattr(cls, "async_impl", False):
        return cls(asynchronous=True, skip_instance_cache=True)
    return AsyncFileSystemWrapper(cls(skip_instance_cache=True), asynchronous=True)


# loop -> {scheme: filesystem}. Weak on the loop: a closed test loop takes its clients with it.
_cache: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncFileSystem]] = weakref.WeakKeyDictionary()


def filesystem_for(uri: str) -> AsyncFileSystem:
    """The cached async filesystem for `uri`'s scheme; call it from the event loop that will use it. Not for S3
    (ValueError): that is storage.s3's, through obstore."""
    scheme = scheme_of(uri)
    if scheme in S3_SCHEMES:
        raise ValueError(f"{scheme}:// is read through storage.s3, not fsspec")
    local = scheme in LOCAL_SCHEMES
    per_loop = _cache.setdefault(asyncio.get_running_loop(), {})
    key = "file" if local else scheme
    if key not in per_loop:
        per_loop[key] = _local_filesystem() if local else _other_filesystem(scheme)
    return per_loop[key]


async def close_filesystems() -> None:
    """Forget the filesystems made on the running loop (operator shutdown, test teardown): each closes its own
    sessions when collected."""
    _cache.pop(asyncio.get_running_loop(), None)
