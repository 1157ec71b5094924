"""Where a bundle's bytes come from: `s3://` through obstore, every other scheme through the operator's fsspec
filesystems (storage.filesystems: file://, gs://, https://...).

S3 goes through obstore (as the Flyte SDK's own downloads do) rather than s3fs: a new s3fs client parses botocore's
service models first, about 0.1 s of one core before the first request of every bootstrap, and obstore moves the
bytes without holding the GIL, which the inflate and the tar writes need. The store, its endpoint and credentials are
storage.s3's (the operator's own): static ones from AWS_* / FLYTE_AWS_*, else obstore's chain. Its retries are off:
the caller's loop (fetch.Download) is the one with a budget, and obstore's errors reach it as they are (fetch.classify).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..storage import s3
from ..storage.filesystems import S3_SCHEMES, FromEnvironment, close_filesystems, filesystem_for, s3_options, scheme_of

# A whole request's bound (fetch.Download's); obstore's own (30 s by default, too short for a range over a slow link)
# is set to the same.
REQUEST_TIMEOUT_SECONDS = 60.0
BOOTSTRAP_POLICY = s3.RequestPolicy(max_retries=0, timeout_seconds=REQUEST_TIMEOUT_SECONDS)


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
        self.uri = uri
        bucket, self.key = s3.bucket_and_key(uri)
        self.store = s3.store_for(bucket, s3_options(FromEnvironment()), BOOTSTRAP_POLICY)

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
        fs = filesystem_for(uri)
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

