"""Async fsspec filesystems for the URIs tasks write to (outputs.pb, error.pb), built from StorageSettings.

- `s3://` (and `s3a://`): `s3fs.S3FileSystem(asynchronous=True)`. Endpoint, region and credentials come from the
  settings (TASKACTION_STORAGE_*), else from the environment the Flyte SDK and boto read: AWS_ACCESS_KEY_ID /
  AWS_SECRET_ACCESS_KEY / AWS_REGION, or FLYTE_AWS_ENDPOINT / FLYTE_AWS_ACCESS_KEY_ID / FLYTE_AWS_SECRET_ACCESS_KEY.
  With none of them, botocore's default chain applies (IRSA, instance profile, ~/.aws).
- `file://` (or a bare path): the local filesystem behind fsspec's AsyncFileSystemWrapper, so every call runs in a
  worker thread and the event loop never blocks on the disk.
- Any other scheme: whatever async implementation fsspec has registered for it (gcsfs, adlfs), if installed.

One filesystem per event loop, scheme and options (never per bucket): an s3fs client is bound to the loop that
opened its session. `close_filesystems()` closes them at shutdown. Credentials are never logged nor put in a repr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:  # fsspec is imported where a filesystem is made: taskaction-bootstrap reads S3 without it
    from fsspec.asyn import AsyncFileSystem

logger = logging.getLogger(__name__)

S3_SCHEMES = frozenset({"s3", "s3a"})
LOCAL_SCHEMES = frozenset({"", "file", "local"})

# Per request; the caller bounds the whole check (outputs.check_outputs). botocore's "standard" retry mode retries
# throttling and transient errors, not 403s or 404s.
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 20.0
MAX_ATTEMPTS = 3


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


def _s3_filesystem(options: S3Options) -> AsyncFileSystem:
    import s3fs  # imported here: the operator only pays for botocore when it reads from S3

    config: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "read_timeout": READ_TIMEOUT_SECONDS,
        "retries": {"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    }
    if options.endpoint_url:
        # SeaweedFS, MinIO and in-cluster services are addressed by path, not by a bucket subdomain.
        config["s3"] = {"addressing_style": "path"}
    client_kwargs: dict[str, Any] = {}
    if options.region:
        client_kwargs["region_name"] = options.region
    return s3fs.S3FileSystem(
        asynchronous=True,
        skip_instance_cache=True,  # this module caches; fsspec's cache would share across loops
        use_listings_cache=False,  # a poller must never see a stale "not found"
        endpoint_url=options.endpoint_url,
        key=options.key,
        secret=options.secret,
        client_kwargs=client_kwargs,
        config_kwargs=config,
    )


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


# loop -> {(scheme, options): filesystem}. Weak on the loop: a closed test loop takes its clients with it.
_cache: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, Any], AsyncFileSystem]] = (
    weakref.WeakKeyDictionary()
)


def filesystem_for(uri: str, settings: StorageSettings) -> AsyncFileSystem:
    """The cached async filesystem for `uri`'s scheme; call it from the event loop that will use it."""
    loop = asyncio.get_running_loop()
    scheme = scheme_of(uri)
    per_loop = _cache.setdefault(loop, {})
    if scheme in S3_SCHEMES:
        options = s3_options(settings)
        key: tuple[str, Any] = ("s3", options)
        if key not in per_loop:
            logger.info("Object storage client for s3: %s", options.describe())
            per_loop[key] = _s3_filesystem(options)
    elif scheme in LOCAL_SCHEMES:
        key = ("file", None)
        if key not in per_loop:
            per_loop[key] = _local_filesystem()
    else:
        key = (scheme, None)
        if key not in per_loop:
            per_loop[key] = _other_filesystem(scheme)
    return per_loop[key]


async def _close(fs: AsyncFileSystem) -> None:
    client = getattr(fs, "_s3", None)
    if client is not None:
        fs._s3 = None  # type: ignore[attr-defined]
        await client.close()


async def close_filesystems() -> None:
    """Close the clients opened on the running loop (operator shutdown, test teardown)."""
    loop = asyncio.get_running_loop()
    per_loop = _cache.pop(loop, {})
    for fs in per_loop.values():
        try:
            await _close(fs)
        except Exception as exc:  # shutting down: report, carry on with the others
            logger.warning("Closing a storage client failed: %s", type(exc).__name__)
