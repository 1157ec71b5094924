"""A per-node cache of unpacked bundles (`--cache-dir`, typically a hostPath shared by the pods of a node).

Layout: `<cache>/<key>/` is a complete, verified tree (it appears by an atomic rename of `<cache>/.tmp-<key>-*`, so
a reader never sees half of one); `<cache>/.locks/<key>.lock` is flock'ed by the one process filling that key, so
concurrent pods download a bundle once and the others wait for it (bounded by `lock_timeout`, after which they go
on without the cache). Two writers racing without the lock still end consistent: the second rename fails and its
copy is dropped. Nothing is ever evicted: size the volume, or clean it from outside (entries are independent
directories; removing one is safe while no bootstrap copies from it).

Any cache trouble (not writable, no space) is logged and the bundle is fetched without the cache: the cache may
make a pod faster, never fail it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

LOCK_DIR = ".locks"
TMP_PREFIX = ".tmp-"
DEFAULT_LOCK_TIMEOUT_SECONDS = 600.0
LOCK_POLL_SECONDS = 0.1


class CacheUnavailable(Exception):
    pass


class BundleCache:
    def __init__(self, root: Path, lock_timeout: float = DEFAULT_LOCK_TIMEOUT_SECONDS) -> None:
        self.root = root
        self.lock_timeout = lock_timeout
        try:
            (root / LOCK_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheUnavailable(f"cannot create {root}: {exc.strerror or exc}") from exc
        if not os.access(root, os.W_OK | os.X_OK) or not os.access(root / LOCK_DIR, os.W_OK | os.X_OK):
            raise CacheUnavailable(f"{root} is not writable")

    def entry(self, key: str) -> Path | None:
        path = self.root / key
        return path if path.is_dir() else None

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
        """A fresh directory to unpack into, beside the entries (same filesystem: the rename is atomic)."""
        self._remove_stale(key)
        path = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{key}-", dir=self.root))
        os.chmod(path, 0o755)
        return path

    def _remove_stale(self, key: str) -> None:
        """Called with the key's lock held: a staging directory of this key is what a killed process left."""
        for path in self.root.glob(f"{TMP_PREFIX}{key}-*"):
            shutil.rmtree(path, ignore_errors=True)

    def commit(self, staging: Path, key: str) -> Path:
        """Rename the verified staging tree into place; if another process got there first, keep theirs."""
        entry = self.root / key
        try:
            os.rename(staging, entry)
        except OSError:
            if entry.is_dir():
                shutil.rmtree(staging, ignore_errors=True)
            else:
                raise
        return entry
