"""Unpacking an untrusted tar (.tar.gz, .tgz, .tar) from a stream of chunks into a fresh directory, safely.

Pipeline: the chunks (downloaded in another thread) are inflated in a second thread (and hashed in a third
meanwhile), which feeds tarfile in stream mode (`r|`, 1 MiB buffers) in the calling thread. Inflating is the
bottleneck: it is ISA-L's (python-isal's IgzipDecompressor), about twice zlib's speed. It, sha256 and the file writes
release the GIL, so download, hashing, inflate and writes overlap.

Refused (BundleUnsafe), never skipped, before anything of the member is written:
- names that are absolute, contain `..`, or are too long; duplicates (except a directory repeated);
- symlinks whose target is absolute or resolves outside the destination, hard links to anything but a regular file
  already extracted, members written through or over a link; resolution is lexical, on our own record of the links
  extracted so far (independent of os.path.realpath), and every link is checked again once the tree is complete (a
  later link cannot make an earlier one escape);
- character and block devices, fifos, anything but regular files, directories, symlinks and hard links;
- more than `max_members` members, more than `max_bytes` of file contents (declared sizes, summed before writing),
  an inflated stream larger than the contents plus the tar headers could be (a bomb hidden outside members);
- data that is not a tar (or a gzip-compressed tar), truncated or corrupt archives.
On top of these, tarfile's `data` filter is applied to every member where Python has it (3.11.4+; the floor: its
refusals and its modes); without it (Debian bookworm's 3.11.2), the same modes are computed here (`floor_mode`).
Members are written by this module, never by tarfile.extract: files with O_EXCL|O_NOFOLLOW at their resolved path,
no ownership (never chown), mtimes kept.
"""

from __future__ import annotations

import concurrent.futures
import errno
import io
import os
import queue
import tarfile
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from isal import igzip_lib

from .errors import BUNDLE_BOOTSTRAP_FAILED, BUNDLE_UNSAFE, BundleFailure

DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_MAX_MEMBERS = 100_000
MAX_NAME_BYTES = 4096
MAX_COMPONENT_BYTES = 255
MAX_LINK_HOPS = 40
TAR_BUFFER = 1024 * 1024
INFLATE_BLOCK = 4 * 1024 * 1024
QUEUE_BLOCKS = 8
# Per member, at most: a 512-byte header, long-name/pax headers, padding. Plus the end-of-archive blocks and the
# record padding (tarfile pads to 10 KiB; others to more).
HEADER_ALLOWANCE_PER_MEMBER = 4096
TRAILER_ALLOWANCE = 16 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"
# Local trouble (BundleBootstrapFailed) as opposed to an archive we cannot extract (BundleUnsafe).
_LOCAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM, errno.EMFILE, errno.ENFILE})


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS

    @property
    def max_stream_bytes(self) -> int:
        return self.max_bytes + self.max_members * HEADER_ALLOWANCE_PER_MEMBER + TRAILER_ALLOWANCE


@dataclass
class Unpacked:
    members: int = 0
    files: int = 0
    content_bytes: int = 0
    compressed_bytes: int = 0
    inflated_bytes: int = 0
    hashed_all: bool = False  # the hasher saw every byte of the stream


def unsafe(message: str) -> BundleFailure:
    return BundleFailure(BUNDLE_UNSAFE, message)


def local_failure(action: str, exc: OSError) -> BundleFailure:
    return BundleFailure(BUNDLE_BOOTSTRAP_FAILED, f"{action}: {exc.strerror or exc}")


# The stream: hash + inflate in a thread, read by tarfile in the caller's.


class _End:
    pass


_END = _End()


@dataclass
class _Raised:
    exc: BaseException


def _gunzip() -> Any:
    """One gzip member's decompressor (header, CRC and length checked). Not isal_zlib.decompressobj: that one holds
    the GIL while it inflates, this one releases it."""
    return igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)


class _Inflater(threading.Thread):
    """chunks -> hasher.update (in a helper thread) and (gunzip) -> queue of blocks.

    Modes: "extract" (blocks go to the reader), "trailer" (the tar has ended: inflate the rest without keeping it, up
    to TRAILER_ALLOWANCE, so that gzip's CRC is still checked), "hash" (extraction failed: only hash the rest)."""

    def __init__(self, chunks: Iterator[bytes], hasher: Any, limits: Limits) -> None:
        super().__init__(name="bundle-inflate", daemon=True)
        self.chunks = chunks
        self.hasher = hasher
        self.limits = limits
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_BLOCKS)
        self.compressed = 0
        self.inflated = 0
        self.after_tar = 0
        self.hashed_all = False
        self.mode = "extract"
        self._cancelled = threading.Event()
        self._decompressor: Any = None
        self._format: str | None = None
        self._head = b""

    def cancel(self) -> None:
        self.mode = "hash"
        self._cancelled.set()

    def _inflating(self) -> bool:
        return self.mode == "extract" or (self.mode == "trailer" and self.after_tar <= TRAILER_ALLOWANCE)

    def _put(self, item: Any) -> None:
        while True:
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                if self._cancelled.is_set():
                    return

    def _emit(self, block: bytes) -> None:
        if not block:
            return
        self.inflated += len(block)
        if self.mode != "extract":
            self.after_tar += len(block)
            return
        if self.inflated > self.limits.max_stream_bytes:
            raise unsafe(
                f"the archive inflates to more than {self.limits.max_stream_bytes} bytes "
                f"(limit {self.limits.max_bytes} bytes of contents): a decompression bomb"
            )
        self._put(block)

    def _feed(self, chunk: bytes) -> None:
        if self._format is None:
            self._head += chunk
            if len(self._head) < len(GZIP_MAGIC):
                return
            chunk, self._head = self._head, b""
            self._format = "gzip" if chunk.startswith(GZIP_MAGIC) else "tar"
            if self._format == "gzip":
                self._decompressor = _gunzip()
        if self._format == "tar":
            self._emit(chunk)
            return
        data, self._head = self._head + chunk, b""
        while data and self._inflating():
            d = self._decompressor
            if d.eof:
                if len(data) < len(GZIP_MAGIC):
                    self._head = data  # the next member's magic may straddle two chunks
                    return
                if not data.startswith(GZIP_MAGIC):
                    return  # bytes after the last gzip member: ignored, as gzip(1) ignores trailing zeros
                d = self._decompressor = _gunzip()  # a multi-member gzip (pigz, cat)
            try:
                self._emit(d.decompress(data, INFLATE_BLOCK))
                while not (d.eof or d.needs_input) and self._inflating():
                    self._emit(d.decompress(b"", INFLATE_BLOCK))
            except igzip_lib.IsalError as exc:
                raise unsafe(f"corrupt gzip stream: {exc}") from exc
            data = d.unused_data if d.eof else b""

    def run(self) -> None:
        try:
            # Each chunk is hashed in the helper thread while this one inflates it; waiting for the previous chunk's
            # hash first keeps the updates in order and at most one pending.
            with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="bundle-hash") as hashing:
                hashed: concurrent.futures.Future[None] | None = None
                for chunk in self.chunks:
                    if self._cancelled.is_set():
                        break
                    if self.hasher is not None:
                        if hashed is not None:
                            hashed.result()
                        hashed = hashing.submit(self.hasher.update, chunk)
                    self.compressed += len(chunk)
                    if self._inflating():
                        self._feed(chunk)
                else:
                    self.hashed_all = True
            if self.hashed_all:
                if self._format is None and self._head:  # fewer than two bytes in all
                    self._format = "tar"
                    self._emit(self._head)
                if self._format == "gzip" and self._inflating() and not self._decompressor.eof:
                    raise unsafe("truncated gzip stream")
            self._put(_END)
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._put(_Raised(exc))
        finally:
            close = getattr(self.chunks, "close", None)
            if close is not None:
                close()


class _QueueReader(io.RawIOBase):
    def __init__(self, inflater: _Inflater) -> None:
        self.inflater = inflater
        self._block = memoryview(b"")
        self._ended = False

    def readable(self) -> bool:
        return True

    def _next_block(self) -> bool:
        if self._ended:
            return False
        item = self.inflater.queue.get()
        if item is _END:
            self._ended = True
            return False
        if isinstance(item, _Raised):
            self._ended = True
            raise item.exc
        self._block = memoryview(item)
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [bytes(self._block)]
            self._block = memoryview(b"")
            while self._next_block():
                parts.append(bytes(self._block))
            self._block = memoryview(b"")
            return b"".join(parts)
        while not self._block:
            if not self._next_block():
                return b""
        out = bytes(self._block[:size])
        self._block = self._block[size:]
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Until the end of the stream (the inflater keeps hashing); raises what the inflater raised."""
        self._block = memoryview(b"")
        while self._next_block():
            self._block = memoryview(b"")


# The lexical model of what has been extracted.


def split_name(name: str, what: str = "member") -> tuple[str, ...]:
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise unsafe(f"{what} name longer than {MAX_NAME_BYTES} bytes")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise unsafe(f"{what} {name!r} is an absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise unsafe(f"{what} {name!r} escapes the destination (..)")
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES:
            raise unsafe(f"{what} {name!r} has a path component longer than {MAX_COMPONENT_BYTES} bytes")
        if "\x00" in part:
            raise unsafe(f"{what} {name!r} contains a NUL byte")
    return parts


@dataclass
class Tree:
    """Paths (tuples of components, relative to the destination) extracted so far, by kind."""

    links: dict[tuple[str, ...], str] = field(default_factory=dict)
    files: set[tuple[str, ...]] = field(default_factory=set)
    dirs: set[tuple[str, ...]] = field(default_factory=set)

    def resolve(self, components: tuple[str, ...] | list[str], what: str) -> tuple[str, ...]:
        """Follow our symlinks and `..` lexically; raise when the path leaves the destination."""
        stack: list[str] = []
        todo: deque[str] = deque(components)
        hops = 0
        while todo:
            part = todo.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    raise unsafe(f"{what} resolves outside the destination")
                stack.pop()
                continue
            stack.append(part)
            target = self.links.get(tuple(stack))
            if target is not None:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise unsafe(f"{what}: too many levels of symbolic links")
                stack.pop()
                if target.startswith("/"):
                    raise unsafe(f"{what} goes through a link to the absolute path {target!r}")
                todo.extendleft(reversed(target.split("/")))
        return tuple(stack)

    def taken(self, path: tuple[str, ...]) -> bool:
        return path in self.links or path in self.files or path in self.dirs


def check_member(member: tarfile.TarInfo, tree: Tree) -> tuple[tuple[str, ...], tuple[str, ...] | None] | None:
    """(the member's resolved path, a hard link's resolved target) if it may be extracted, None for the
    destination's own `.` entry; raises BundleUnsafe otherwise. Records the member in `tree`. Resolved paths go
    through no symbolic link: every component is a directory we created."""
    name = member.name
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        kind = {
            tarfile.CHRTYPE: "a character device",
            tarfile.BLKTYPE: "a block device",
            tarfile.FIFOTYPE: "a fifo",
        }.get(member.type, f"of type {member.type!r}")
        raise unsafe(f"member {name!r} is {kind}")
    parts = split_name(name)
    if not parts:
        if member.isdir():
            return None
        raise unsafe(f"member {name!r} has an empty name")
    parent = tree.resolve(parts[:-1], f"member {name!r}")
    for i in range(1, len(parent) + 1):  # the parents are (or become) directories
        if parent[:i] in tree.files:
            raise unsafe(f"member {name!r} is below the file {'/'.join(parent[:i])!r}")
        tree.dirs.add(parent[:i])
    path = parent + (parts[-1],)
    if path in tree.links:
        raise unsafe(f"member {name!r} would be written through the symbolic link extracted before it")
    if tree.taken(path) and not (member.isdir() and path in tree.dirs):
        raise unsafe(f"member {name!r} appears twice")
    if member.issym():
        target = member.linkname
        if not target:
            raise unsafe(f"symbolic link {name!r} has an empty target")
        if target.startswith("/"):
            raise unsafe(f"symbolic link {name!r} points to the absolute path {target!r}")
        if len(target.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise unsafe(f"symbolic link {name!r} has a target longer than {MAX_NAME_BYTES} bytes")
        tree.resolve(list(parent) + target.split("/"), f"symbolic link {name!r} -> {target!r}")
        tree.links[path] = target
    elif member.islnk():
        target_parts = split_name(member.linkname, f"hard link {name!r} target")
        target = tree.resolve(target_parts, f"hard link {name!r} -> {member.linkname!r}")
        if target not in tree.files:
            raise unsafe(f"hard link {name!r} points to {member.linkname!r}, not a file extracted before it")
        tree.files.add(path)
        return path, target
    elif member.isdir():
        tree.dirs.add(path)
    else:
        tree.files.add(path)
    return path, None


def check_links_final(tree: Tree) -> None:
    """Every link, resolved in the complete tree, must stay inside it."""
    for path, target in tree.links.items():
        tree.resolve(list(path[:-1]) + target.split("/"), f"symbolic link {'/'.join(path)!r} -> {target!r}")


MAX_HEADER_BYTES = 1024 * 1024
_EXTENDED_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads long-name and pax headers into memory whole: bound them (a bomb hidden in a header)."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.type in _EXTENDED_HEADERS and self.size > MAX_HEADER_BYTES:
            raise unsafe(f"an extended header of {self.size} bytes (limit {MAX_HEADER_BYTES})")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


_DATA_FILTER = getattr(tarfile, "data_filter", None)  # Python >= 3.11.4 (Debian bookworm's 3.11.2 has none)


def floor_mode(member: tarfile.TarInfo) -> int | None:
    """The modes tarfile's `data` filter allows: no setuid/setgid/sticky, no group/other write; files readable
    and writable by their owner, executable by nobody unless by their owner; directories and links: defaults."""
    if member.isdir() or member.issym():
        return None
    mode = member.mode & 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


def data_filter(member: tarfile.TarInfo, dest: str) -> int | None:
    """tarfile's `data` filter as the floor, where Python has it: its refusals are ours, and so are its modes.
    Without it, `check_member` (a superset of its checks) and `floor_mode` hold alone."""
    if _DATA_FILTER is None:
        return floor_mode(member)
    try:
        filtered = _DATA_FILTER(member, dest)
    except tarfile.FilterError as exc:  # type: ignore[attr-defined]
        raise unsafe(f"member {member.name!r} refused by the data filter: {exc}") from exc
    return None if member.isdir() or member.issym() else filtered.mode


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
    inflater = _Inflater(chunks, hasher, limits)
    reader = _QueueReader(inflater)
    inflater.start()
    tree = Tree()
    total = 0
    root = str(dest)
    failed = False
    try:
        try:
            archive = tarfile.open(
                fileobj=reader, mode="r|", bufsize=TAR_BUFFER, copybufsize=TAR_BUFFER, errorlevel=2, tarinfo=_BoundedTarInfo
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
