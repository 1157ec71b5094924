"""Unpacking an untrusted tar (.tar.gz, .tgz, .tar) from a stream of chunks into a fresh directory, safely.

The bytes come from `inflate` (inflated and hashed in other threads), tarfile reads them in stream mode (`r|`, 1 MiB
buffers), each member is checked by `tar_safety` (and refused, BundleUnsafe, before anything of it is written), then
written here, never by tarfile.extract: files with O_EXCL|O_NOFOLLOW at their resolved path, no ownership (never
chown), mtimes kept. Local trouble while writing (disk full, read-only, permissions) is BundleBootstrapFailed.
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

from .errors import BUNDLE_BOOTSTRAP_FAILED, BundleFailure
from .inflate import Inflater, QueueReader
from .tar_safety import BoundedTarInfo, Limits, Tree, check_links_final, check_member, data_filter, unsafe

TAR_BUFFER = 1024 * 1024
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


def write_member(
    archive: tarfile.TarFile, member: tarfile.TarInfo, root: str, path: tuple[str, ...], link_target: tuple[str, ...] | None, mode: int | None
) -> None:
    """Create the member at its resolved path. Never through a link: files with O_EXCL|O_NOFOLLOW, links with
    link()/symlink() (which fail on an existing name); parents are plain directories."""
    target = os.path.join(root, *path)
    parent = os.path.dirname(target)
    if member.isdir():
        os.makedirs(target, mode=0o755, exist_ok=True)
        return
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        assert link_target is not None
        os.link(os.path.join(root, *link_target), target, follow_symlinks=False)
    else:
        source = archive.extractfile(member)
        assert source is not None
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb", buffering=0) as out:
            left = member.size
            while left > 0:
                block = source.read(min(TAR_BUFFER, left))
                if not block:
                    raise unsafe(f"truncated archive in member {member.name!r}")
                out.write(block)
                left -= len(block)
            if mode is not None:
                os.fchmod(out.fileno(), mode)
    if member.mtime is not None and not member.isdir():
        try:
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
        except (OSError, OverflowError, ValueError):
            pass  # a timestamp is not worth failing for


def _extract_error(member: tarfile.TarInfo, exc: OSError) -> BundleFailure:
    if exc.errno in _LOCAL_ERRNOS:
        return local_failure(f"writing {member.name!r}", exc)
    return unsafe(f"cannot extract member {member.name!r}: {exc.strerror or exc}")


def unpack_stream(chunks: Iterator[bytes], dest: Path, limits: Limits, hasher: Any = None, result: Unpacked | None = None) -> Unpacked:
    """Extract the tar in `chunks` into the existing, empty directory `dest`; counts go into `result`.

    With a hasher, every byte of `chunks` is hashed even when extraction fails early (so that a checksum mismatch can
    be told apart from an unsafe archive): `result.hashed_all` tells whether the hasher saw the whole stream."""
    result = result if result is not None else Unpacked()
    inflater = Inflater(chunks, hasher, limits)
    reader = QueueReader(inflater)
    inflater.start()
    tree = Tree()
    total = 0
    root = str(dest)
    failed = False
    try:
        try:
            archive = tarfile.open(
                fileobj=reader, mode="r|", bufsize=TAR_BUFFER, copybufsize=TAR_BUFFER, errorlevel=2, tarinfo=BoundedTarInfo
            )
        except tarfile.ReadError as exc:
            raise unsafe(f"not a tar archive ({exc})") from exc
        with archive:
            while True:
                try:
                    member = archive.next()
                except tarfile.ReadError as exc:
                    raise unsafe(f"corrupt tar archive after {result.members} members ({exc})") from exc
                if member is None:
                    break
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
                        raise unsafe(
                            f"contents exceed {limits.max_bytes} bytes (member {member.name!r} of {member.size} bytes)"
                        )
                mode = data_filter(member, root)
                try:
                    write_member(archive, member, root, path, link_target, mode)
                except BundleFailure:
                    raise
                except tarfile.ReadError as exc:
                    raise unsafe(f"truncated archive in member {member.name!r} ({exc})") from exc
                except OSError as exc:
                    raise _extract_error(member, exc) from exc
                if member.isreg():
                    result.files += 1
                    result.content_bytes = total
        check_links_final(tree)
        inflater.mode = "trailer"
        reader.drain()
    except BaseException as exc:
        failed = True
        if hasher is not None and isinstance(exc, BundleFailure) and inflater.is_alive():
            inflater.mode = "hash"  # hash the rest, to tell a checksum mismatch from an unsafe archive
            try:
                reader.drain()
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
