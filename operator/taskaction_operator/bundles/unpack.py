"""Unpacking an untrusted tar (.tar.gz, .tgz, .tar) from a stream of chunks into a fresh directory, safely.

The bytes come from `inflate` (inflated and hashed in other threads). Headers are read by tarfile's own parser
(`TarInfo.fromtarfile`, long-name and pax headers included), each member is checked by `tar_safety` (and refused,
BundleUnsafe, before anything of it is written), then written here, never by tarfile.extract: files with
O_EXCL|O_NOFOLLOW at their resolved path, their contents straight from the inflated blocks (no copy, no tarfile
buffering: this thread must keep up with the inflate), no ownership (never chown), mtimes kept. Local trouble while
writing (disk full, read-only, permissions) is BundleBootstrapFailed.
"""

from __future__ import annotations

import errno
import os
import queue
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .digests import StreamedTreeMd5
from .errors import BUNDLE_BOOTSTRAP_FAILED, BundleFailure
from .inflate import BlockReader, Inflater
from .tar_safety import BoundedTarInfo, Limits, Tree, check_links_final, check_member, data_filter, unsafe

# Local trouble (BundleBootstrapFailed) as opposed to an archive we cannot extract (BundleUnsafe).
_LOCAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM, errno.EMFILE, errno.ENFILE})


@dataclass
class Unpacked:
    members: int = 0
    files: int = 0
    content_bytes: int = 0
    compressed_bytes: int = 0
    inflated_bytes: int = 0
    hashed_all: bool = False  # the hasher saw every byte of the stream


def local_failure(action: str, exc: OSError) -> BundleFailure:
    return BundleFailure(BUNDLE_BOOTSTRAP_FAILED, f"{action}: {exc.strerror or exc}")


class Headers:
    """What `TarInfo.fromtarfile` asks of a TarFile to read a member's headers: the stream (`fileobj`), where the next
    header starts (`offset`, which it advances past the member's data), the encoding and the global pax headers.
    `next()` is TarFile.next's reading, forward only, with its verdicts: a zero block ends the archive, and so does
    an unreadable header after the first member; an unreadable first header is not a tar."""

    def __init__(self, stream: BlockReader) -> None:
        self.fileobj = stream
        self.offset = 0
        self.encoding = tarfile.ENCODING
        self.errors = "surrogateescape"
        self.pax_headers: dict[str, str] = {}

    def next(self) -> tarfile.TarInfo | None:
        gap = self.offset - self.fileobj.tell()  # the previous member's data and padding, if not read
        if gap > 0 and self.fileobj.skip(gap) != gap:
            raise unsafe("truncated archive: unexpected end of data")
        try:
            return BoundedTarInfo.fromtarfile(self)
        except tarfile.EOFHeaderError:  # type: ignore[attr-defined]
            return None
        except (tarfile.InvalidHeaderError, tarfile.EmptyHeaderError, tarfile.TruncatedHeaderError) as exc:  # type: ignore[attr-defined]
            if self.offset == 0:
                raise unsafe(f"not a tar archive ({exc})") from exc
            return None
        except tarfile.HeaderError as exc:  # type: ignore[attr-defined]
            raise unsafe(f"corrupt tar archive ({exc})") from exc


def write_member(
    stream: BlockReader,
    member: tarfile.TarInfo,
    root: str,
    path: tuple[str, ...],
    link_target: tuple[str, ...] | None,
    mode: int | None,
    files_md5: StreamedTreeMd5 | None = None,
) -> None:
    """Create the member at its resolved path. Never through a link: files with O_EXCL|O_NOFOLLOW, links with
    link()/symlink() (which fail on an existing name); parents are plain directories. A file's contents also go to
    `files_md5`, if given."""
    target = os.path.join(root, *path)
    parent = os.path.dirname(target)
    if member.isdir():
        os.makedirs(target, mode=0o755, exist_ok=True)
        return
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if member.issym() or member.islnk():
        if files_md5 is not None:
            files_md5.invalidate()
    if member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        assert link_target is not None
        os.link(os.path.join(root, *link_target), target, follow_symlinks=False)
    else:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            digest = files_md5 if files_md5 is not None and files_md5.begin("/".join(path)) else None
            if stream.write_to(fd, member.size, digest.update if digest is not None else None) != member.size:
                raise unsafe(f"truncated archive in member {member.name!r}")
            if digest is not None:
                digest.end()
            if mode is not None:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)
    if member.mtime is not None:
        try:
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
        except (OSError, OverflowError, ValueError):
            pass  # a timestamp is not worth failing for


def _extract_error(member: tarfile.TarInfo, exc: OSError) -> BundleFailure:
    if exc.errno in _LOCAL_ERRNOS:
        return local_failure(f"writing {member.name!r}", exc)
    return unsafe(f"cannot extract member {member.name!r}: {exc.strerror or exc}")


def unpack_stream(
    chunks: Iterator[Any],
    dest: Path,
    limits: Limits,
    hasher: Any = None,
    result: Unpacked | None = None,
    files_md5: StreamedTreeMd5 | None = None,
) -> Unpacked:
    """Extract the tar in `chunks` into the existing, empty directory `dest`; counts go into `result`, the files'
    contents into `files_md5` too when given.

    With a hasher, every byte of `chunks` is hashed even when extraction fails early (so that a checksum mismatch can
    be told apart from an unsafe archive): `result.hashed_all` tells whether the hasher saw the whole stream."""
    result = result if result is not None else Unpacked()
    inflater = Inflater(chunks, hasher, limits)
    stream = BlockReader(inflater)
    headers = Headers(stream)
    inflater.start()
    tree = Tree()
    total = 0
    root = str(dest)
    failed = False
    try:
        while (member := headers.next()) is not None:
            result.members += 1
            if result.members > limits.max_members:
                raise unsafe(f"more than {limits.max_members} members")
            checked = check_member(member, tree)
            if checked is None:
                continue
            path, link_target = checked
            if member.isreg():
                total += member.size
                if total > limits.max_bytes:
                    raise unsafe(f"contents exceed {limits.max_bytes} bytes (member {member.name!r} of {member.size} bytes)")
            mode = data_filter(member, root)
            try:
                write_member(stream, member, root, path, link_target, mode, files_md5)
            except OSError as exc:
                raise _extract_error(member, exc) from exc
            if member.isreg():
                result.files += 1
                result.content_bytes = total
        check_links_final(tree)
        inflater.mode = "trailer"
        stream.drain()
    except BaseException as exc:
        failed = True
        if hasher is not None and isinstance(exc, BundleFailure) and inflater.is_alive():
            inflater.mode = "hash"  # hash the rest, to tell a checksum mismatch from an unsafe archive
            try:
                stream.drain()
            except BaseException:
                pass
        raise
    finally:
        if failed and inflater.is_alive():
            inflater.cancel()
            while inflater.is_alive():  # unblock its put()
                try:
                    inflater.queue.get(timeout=0.1)
                except queue.Empty:
                    pass
        inflater.join()
        result.compressed_bytes = inflater.compressed
        result.inflated_bytes = inflater.inflated
        result.hashed_all = inflater.hashed_all
    return result
