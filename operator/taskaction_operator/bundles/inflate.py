"""The stream an untrusted tar is read from: download chunks in, tar bytes out, hashed on the way.

The chunks (downloaded in another thread) are inflated in a second thread (`Inflater`, and hashed in a third
meanwhile), which feeds the tar reader (unpack.py) through a bounded queue of blocks (`BlockReader`) in the calling
thread. The
format is told by its first bytes: gzip (also several members, as pigz and cat make), else a plain tar. Inflating is
the bottleneck: it is ISA-L's (python-isal's IgzipDecompressor), about twice zlib's speed. It, sha256 and the file
writes release the GIL, so download, hashing, inflate and writes overlap. A stream inflating to more than
`Limits.max_stream_bytes` is refused as a bomb.
"""

from __future__ import annotations

import concurrent.futures
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from isal import igzip_lib

from .tar_safety import TRAILER_ALLOWANCE, Limits, unsafe

INFLATE_BLOCK = 4 * 1024 * 1024
QUEUE_BLOCKS = 8
GZIP_MAGIC = b"\x1f\x8b"


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


def _is_gzip(data: Any) -> bool:
    """Whether a buffer (bytes, or obstore's Bytes, which has no startswith) starts with gzip's magic."""
    return bytes(data[: len(GZIP_MAGIC)]) == GZIP_MAGIC


class Inflater(threading.Thread):
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
            if self._head:
                chunk, self._head = self._head + chunk, b""
            if len(chunk) < len(GZIP_MAGIC):
                self._head = bytes(chunk)
                return
            self._format = "gzip" if _is_gzip(chunk) else "tar"
            if self._format == "gzip":
                self._decompressor = _gunzip()
        if self._format == "tar":
            self._emit(chunk)
            return
        data, self._head = (self._head + chunk if self._head else chunk), b""
        while data and self._inflating():
            d = self._decompressor
            if d.eof:
                if len(data) < len(GZIP_MAGIC):
                    self._head = data  # the next member's magic may straddle two chunks
                    return
                if not _is_gzip(data):
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


class BlockReader:
    """The inflated stream as the tar reader takes it, forward only: headers as bytes (`read`, `tell`: what
    tarfile's header parser asks of a file), a member's contents written to a file straight from the inflated blocks
    (`write_to`: no copy in Python), padding skipped (`skip`). Short counts mean the stream ended."""

    def __init__(self, inflater: Inflater) -> None:
        self.inflater = inflater
        self._block = memoryview(b"")
        self._ended = False
        self._position = 0

    def tell(self) -> int:
        return self._position

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

    def _take(self, size: int) -> memoryview | None:
        """The next piece of the stream, at most `size` bytes; None at its end."""
        if not self._block and not self._next_block():
            return None
        piece = self._block[:size]
        self._block = self._block[len(piece) :]
        self._position += len(piece)
        return piece

    def read(self, size: int) -> bytes:
        parts = []
        while size > 0 and (piece := self._take(size)) is not None:
            parts.append(piece)
            size -= len(piece)
        return b"".join(parts)

    def write_to(self, fd: int, size: int, also: Callable[[memoryview], None] | None = None) -> int:
        """`size` bytes of the stream into `fd`, each piece handed to `also` too (a digest of the files)."""
        left = size
        while left > 0 and (piece := self._take(left)) is not None:
            left -= len(piece)
            if also is not None:
                also(piece)
            while piece:
                piece = piece[os.write(fd, piece) :]
        return size - left

    def skip(self, size: int) -> int:
        left = size
        while left > 0 and (piece := self._take(left)) is not None:
            left -= len(piece)
        return size - left

    def drain(self) -> None:
        """Until the end of the stream (the inflater keeps hashing); raises what the inflater raised."""
        self._block = memoryview(b"")
        while self._next_block():
            self._block = memoryview(b"")
