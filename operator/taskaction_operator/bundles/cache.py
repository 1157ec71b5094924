"""A per-node cache of verified bundles (`--cache-dir`, typically a hostPath shared by the pods of a node).

The cache holds archives, not trees, so that every use verifies what it takes against a digest from outside the cache:
- `<cache>/blobs/sha256-<hex>`: the archive's bytes, named by their sha256, which the bootstrap computed while they
  came from the store (and checked against `--sha256`/`--md5` or the SDK name's file digest). A blob is re-hashed
  on every use, while it is unpacked; one that does not hash to its name is dropped and the bundle downloaded.
- `<cache>/refs/<key>`: the sha256 of the blob that a key other than an archive's sha256 stands for: `md5-<hex>`
  (`--md5`), `uri-<sha256 of the URI and the object's version>` (no digest, or the SDK's `fast<md5>.tar.gz` name:
  that md5 is ambiguous, so it is never what finds a cached bundle; it is still checked on the unpacked tree).
  The pod's own expectation is checked on the cached bytes exactly as on downloaded ones.
- `<cache>/.locks/<key>.lock` is flock'ed by the one process filling that key, so concurrent pods download a bundle
  once and the others wait for it (bounded by `lock_timeout`, after which they go on without the cache).

Blobs and refs appear by an atomic rename of `<cache>/.tmp-*`, so a reader never sees half of one. Nothing is evicted:
size the volume, or clean it from outside (removing a blob or a ref only costs a download). Any cache trouble (not
writable, no space, an entry that does not verify) is logged and the bundle fetched without the cache: the cache may
make a pod faster, never fail it. Only the bootstrap writes the cache: the operator's pod policy lets no other
container of a pod mount it (docs/security.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

BLOB_DIR = "blobs"
REF_DIR = "refs"
LOCK_DIR = ".locks"
TMP_PREFIX = ".tmp-"
BLOB_PREFIX = "sha256-"
DEFAULT_LOCK_TIMEOUT_SECONDS = 600.0
LOCK_POLL_SECONDS = 0.1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CacheUnavailable(Exception):
    pass


def blob_name(sha256: str) -> str:
    return f"{BLOB_PREFIX}{sha256}"


class BundleCache:
    def __init__(self, root: Path, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> None:
        self.root = root
        self.lock_timeout = lock_timeout
        directories = [root / LOCK_DIR, root / BLOB_DIR, root / REF_DIR]
        try:
            for directory in directories:
                directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheUnavailable(f"cannot create {root}: {exc.strerror or exc}") from exc
        if not all(os.access(d, os.W_OK | os.X_OK) for d in [root, *directories]):
            raise CacheUnavailable(f"{root} is not writable")

    def blob_for(self, key: str) -> tuple[Path, str] | None:
        """The cached archive `key` stands for and the sha256 it must hash to, or None. A key that is an archive's
        sha256 names its blob; any other goes through its ref."""
        if key.startswith(BLOB_PREFIX):
            sha256 = key[len(BLOB_PREFIX) :]
        else:
            try:
                sha256 = (self.root / REF_DIR / key).read_text().strip()
            except OSError:
                return None
        if not _SHA256.match(sha256):
            return None
        path = self.root / BLOB_DIR / blob_name(sha256)
        return (path, sha256) if path.is_file() else None

    def drop(self, key: str, blob: Path | None) -> None:
        """Forget an entry that did not verify: its ref, and the blob if it does not hold what its name says."""
        for path in ([] if key.startswith(BLOB_PREFIX) else [self.root / REF_DIR / key]) + ([blob] if blob else []):
            with contextlib.suppress(OSError):
                path.unlink()

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[bool]:
        """Hold the key's lock; yields False when it could not be had within the timeout (go on without it)."""
        path = self.root / LOCK_DIR / f"{key}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o666)  # pods of other users share the node's cache
            deadline = time.monotonic() + self.lock_timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        logger.warning("cache: %s is locked for more than %.0fs, going on without the cache", key, self.lock_timeout)
                        yield False
                        return
                    time.sleep(LOCK_POLL_SECONDS)
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def staging(self, key: str) -> Path:
        """A fresh file to write an archive into, beside the entries (same filesystem: the rename is atomic)."""
        self._remove_stale(key)
        fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{key}-", dir=self.root)
        os.close(fd)
        return Path(name)

    def _remove_stale(self, key: str) -> None:
        """Called with the key's lock held: a staging file of this key is what a killed process left."""
        for path in self.root.glob(f"{TMP_PREFIX}{key}-*"):
            with contextlib.suppress(OSError):
                path.unlink()

    def commit(self, staging: Path, key: str, sha256: str) -> None:
        """Put the verified archive in place as its blob (one already there has the same bytes), then point the key
        at it."""
        os.chmod(staging, 0o644)
        os.replace(staging, self.root / BLOB_DIR / blob_name(sha256))
        if key.startswith(BLOB_PREFIX):
            return
        fd, name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{key}-", dir=self.root)
        with os.fdopen(fd, "w") as ref:
            ref.write(sha256 + "\n")
        os.chmod(name, 0o644)
        os.replace(name, self.root / REF_DIR / key)
