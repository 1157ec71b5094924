"""Where a bundle's bytes come from: `s3://` through obstore, every other scheme through the operator's fsspec
filesystems (storage.filesystems: file://, gs://, https://...).

S3 goes through obstore (Rust's object_store, as the Flyte SDK's own downloads do) rather than s3fs: a new s3fs
client parses botocore's service models first, about 0.1 s of one core before the first request of every bootstrap,
and obstore moves the bytes without holding the GIL, which the inflate and the tar writes need. Endpoint, region and
static credentials are the storage module's (`s3_options`: AWS_* / FLYTE_AWS_*); without static ones, obstore's
own chain applies (web identity / IRSA, container credentials, instance metadata). Its retries are off: the caller's
loop (fetch.Download) is the one with a budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..storage.filesystems import S3_SCHEMES, FromEnvironment, close_filesystems, filesystem_for, s3_options, scheme_of

# storage.filesystems' connect and read (stall) timeouts; a whole request is bounded by the caller (fetch: 60 s), so
# obstore's own bound (30 s by default, too short for a range over a slow link) is set to the same.
CONNECT_TIMEOUT = "5s"
READ_TIMEOUT = "20s"
REQUEST_TIMEOUT = "60s"


@dataclass
class RemoteObject:
    uri: str
    size: int | None
    etag: str | None = None
    mtime: str | None = None

    @property
    def version(self) -> str | None:
        """What identifies this content of the object: the ETag, else size and modification time."""
        if self.etag:
            return f"etag:{self.etag}"
        if self.mtime is not None and self.size is not None:
            return f"size:{self.size}:mtime:{self.mtime}"
        return None


def _remote_object(uri: str, size: Any, etag: Any, mtime: Any) -> RemoteObject:
    return RemoteObject(
        uri,
        int(size) if size is not None else None,
        str(etag).strip('"') if etag else None,
        str(mtime) if mtime is not None else None,
    )


class S3Source:
    """One s3:// object through obstore. Reads return obstore `Bytes` (a buffer, no copy into Python)."""

    def __init__(self, uri: str) -> None:
        from obstore.store import S3Store  # imported here: the operator itself never reads through obstore

        self.uri = uri
        parts = urlsplit(uri)
        if not parts.netloc:
            raise ValueError("no bucket in the URI")
        self.key = parts.path.lstrip("/")
        options = s3_options(FromEnvironment())
        config: dict[str, Any] = {}
        if options.endpoint_url:
            config["endpoint"] = options.endpoint_url
            config["virtual_hosted_style_request"] = False  # SeaweedFS, MinIO, in-cluster services: by path
        if options.region:
            config["region"] = options.region
        if options.key and options.secret:
            config["access_key_id"] = options.key
            config["secret_access_key"] = options.secret
        self.store = S3Store(
            parts.netloc,
            client_options={
                "allow_http": (options.endpoint_url or "").startswith("http://"),
                "connect_timeout": CONNECT_TIMEOUT,
                "read_timeout": READ_TIMEOUT,
                "timeout": REQUEST_TIMEOUT,
            },
            retry_config={"max_retries": 0},
            **config,
        )

    async def stat(self) -> RemoteObject:
        import obstore

        meta = await obstore.head_async(self.store, self.key)
        return _remote_object(self.uri, meta["size"], meta.get("e_tag"), meta.get("last_modified"))

    async def read(self, start: int, end: int) -> Any:
        import obstore

        return await obstore.get_range_async(self.store, self.key, start=start, end=end)

    async def read_all(self) -> Any:
        import obstore

        result = await obstore.get_async(self.store, self.key)
        return await result.bytes_async()

    async def close(self) -> None:
        pass


class FsspecSource:
    """One object of any other scheme, through the operator's async fsspec filesystems."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        fs = filesystem_for(uri, FromEnvironment())
        if hasattr(fs, "retries"):
            fs.retries = 1  # a filesystem's own retry loop: the caller's is the one with a budget
        self.fs = fs

    async def stat(self) -> RemoteObject:
        info = await self.fs._info(self.uri)
        if info.get("type") == "directory":
            raise IsADirectoryError(self.uri)
        etag = info.get("ETag") or info.get("etag")
        mtime = info.get("mtime") or info.get("LastModified") or info.get("Last-Modified")
        return _remote_object(self.uri, info.get("size"), etag, mtime)

    async def read(self, start: int, end: int) -> bytes:
        return await self.fs._cat_file(self.uri, start=start, end=end)

    async def read_all(self) -> bytes:
        return await self.fs._cat_file(self.uri)

    async def close(self) -> None:
        await close_filesystems()


def source_for(uri: str) -> S3Source | FsspecSource:
    """The source of `uri`; call it on the event loop that will read it. ValueError: no way to read the scheme."""
    if scheme_of(uri) in S3_SCHEMES:
        return S3Source(uri)
    return FsspecSource(uri)

