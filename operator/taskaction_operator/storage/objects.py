"""Objects by URI, as the operator reads and writes them: `s3://` (and `s3a://`) through obstore (storage.s3), every
other scheme (file://, gs://, abfs://) through the async fsspec filesystems (storage.filesystems).

The same answers whichever way: bytes, or FileNotFoundError for a missing object; a listing is the objects directly
under a prefix by name, none for a prefix nothing was written under.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import s3
from .filesystems import LOCAL_SCHEMES, S3_SCHEMES, StorageSettings, filesystem_for, s3_options, scheme_of

if TYPE_CHECKING:
    from fsspec.asyn import AsyncFileSystem


@dataclass(frozen=True)
class Listed:
    is_file: bool
    # Which write of the object this is: its ETag and modification time as the store reports them, or None.
    version: str | None


async def read_object(uri: str, settings: StorageSettings) -> bytes:
    if scheme_of(uri) in S3_SCHEMES:
        return await s3.read(uri, s3_options(settings))
    return await filesystem_for(uri)._cat_file(uri)


async def write_object(uri: str, data: bytes, settings: StorageSettings) -> None:
    """The object at `uri` is `data` (a local file's directories are made first)."""
    if scheme_of(uri) in S3_SCHEMES:
        await s3.write(uri, data, s3_options(settings))
    else:
        fs = await _for_writing(uri)
        await fs._pipe_file(uri, data)


async def put_file(local: Path, uri: str, settings: StorageSettings) -> None:
    """The object at `uri` is the file `local` (large ones in parts)."""
    if scheme_of(uri) in S3_SCHEMES:
        await s3.write(uri, local, s3_options(settings))
    else:
        fs = await _for_writing(uri)
        await fs._put_file(str(local), uri)


async def _for_writing(uri: str) -> AsyncFileSystem:
    fs = filesystem_for(uri)
    if scheme_of(uri) in LOCAL_SCHEMES:
        await fs._makedirs(uri.rsplit("/", 1)[0], exist_ok=True)
    return fs


async def list_directory(uri: str, settings: StorageSettings) -> dict[str, Listed]:
    """name -> what is directly under `uri`."""
    directory = uri.rstrip("/")
    if scheme_of(uri) in S3_SCHEMES:
        return {
            _name(meta["path"]): Listed(True, _version(meta.get("e_tag"), meta.get("last_modified")))
            for meta in await s3.list_directory(directory, s3_options(settings))
        }
    try:
        entries = await filesystem_for(uri)._ls(directory, detail=True)
    except FileNotFoundError:
        return {}
    return {_name(entry["name"]): Listed(entry.get("type") == "file", _fsspec_version(entry)) for entry in entries}


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _version(etag: Any, modified: Any) -> str | None:
    """`<ETag>|<modified>`, as it was when s3 went through s3fs: a version known before an upgrade is known after."""
    etag, modified = etag or "", modified or ""
    return f"{etag}|{modified}" if etag or modified else None


def _fsspec_version(entry: dict[str, Any]) -> str | None:
    """gs, abfs and local listings name the ETag and modification time differently."""
    etag = entry.get("ETag") or entry.get("etag")
    modified = entry.get("LastModified") or entry.get("last_modified") or entry.get("updated") or entry.get("mtime")
    return _version(etag, modified)
