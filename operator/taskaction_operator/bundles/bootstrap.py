"""taskaction-bootstrap: fetch a code bundle, verify it, unpack it safely into DEST, then exec the task's command.

    taskaction-bootstrap --bundle URI --dest DIR [--sha256 HEX | --md5 HEX] [--cache-dir DIR] [--max-bytes N]
                         [--max-members N] [-- CMD ARGS...]

DEST ends up complete or untouched: the tree is unpacked and verified in a staging directory on DEST's filesystem,
then renamed into place (DEST absent), or moved in entry by entry when DEST is an existing empty directory (an
emptyDir mount point cannot be replaced). DEST then holds `.taskaction-bundle` (the cache key), so that running the
bootstrap again for the same bundle (a restarted init container) is a no-op; a non-empty DEST without that marker is
refused. See docs/bundles.md for the failure contract (errors.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from .cache import BundleCache, CacheUnavailable
from .digests import Expected, StreamedTreeMd5, expected_digest, sdk_tree_md5, uri_cache_key
from .errors import (
    BUNDLE_BOOTSTRAP_FAILED,
    BUNDLE_CHECKSUM_MISMATCH,
    BUNDLE_COMMAND_NOT_FOUND,
    BUNDLE_INVALID_ARGUMENTS,
    BundleFailure,
)
from .fetch import DEFAULT_CHUNK_SIZE, DEFAULT_CONCURRENCY, Download, RemoteObject, RetryPolicy, display_uri
from .tar_safety import Limits
from .unpack import Unpacked, unpack_stream

logger = logging.getLogger("taskaction-bootstrap")

MARKER = ".taskaction-bundle"
STAGING_PREFIX = ".taskaction-staging-"


@dataclass
class Options:
    bundle: str
    dest: Path
    sha256: str | None = None
    md5: str | None = None
    cache_dir: Path | None = None
    limits: Limits = field(default_factory=Limits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    chunk_size: int = DEFAULT_CHUNK_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    lock_timeout: float = 600.0
    command: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    key: str
    source: str  # "download", "cache", "already-there"
    files: int = 0
    content_bytes: int = 0
    compressed_bytes: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0


# DEST


def _local(action: str, exc: OSError) -> BundleFailure:
    return BundleFailure(BUNDLE_BOOTSTRAP_FAILED, f"{action}: {exc.strerror or exc}")


def dest_marker(dest: Path) -> str | None:
    try:
        return (dest / MARKER).read_text().strip() or None
    except OSError:
        return None


def check_dest(dest: Path) -> bool:
    """True when DEST is absent or an empty directory; False when it already holds a bundle (any marker)."""
    if not dest.exists() and not dest.is_symlink():
        return True
    if not dest.is_dir() or dest.is_symlink():
        raise BundleFailure(BUNDLE_INVALID_ARGUMENTS, f"--dest {dest} exists and is not a directory")
    try:
        entries = [e for e in os.listdir(dest) if not e.startswith(STAGING_PREFIX)]
    except OSError as exc:
        raise _local(f"reading --dest {dest}", exc) from exc
    if not entries:
        return True
    if MARKER in entries:
        return False
    raise BundleFailure(BUNDLE_INVALID_ARGUMENTS, f"--dest {dest} is not empty")


class Staging:
    """Where the tree is built before it is put in place, on DEST's filesystem."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.into_existing = dest.is_dir()
        try:
            if self.into_existing:
                for stale in dest.glob(f"{STAGING_PREFIX}*"):  # a killed bootstrap's leftovers
                    shutil.rmtree(stale, ignore_errors=True)
                parent = dest
            else:
                parent = dest.parent
                parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=parent))
            os.chmod(self.path, 0o755)
        except OSError as exc:
            raise _local(f"creating a staging directory for --dest {dest}", exc) from exc

    def discard(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    def commit(self, key: str) -> None:
        try:
            (self.path / MARKER).write_text(key + "\n")
            if not self.into_existing:
                os.rename(self.path, self.dest)
                return
            for name in os.listdir(self.path):
                os.rename(self.path / name, self.dest / name)
            os.rmdir(self.path)
        except OSError as exc:
            if self.into_existing:  # leave DEST as it was: empty
                for name in os.listdir(self.dest):
                    if not name.startswith(STAGING_PREFIX):
                        target = self.dest / name
                        if target.is_dir() and not target.is_symlink():
                            shutil.rmtree(target, ignore_errors=True)
                        else:
                            target.unlink(missing_ok=True)
            self.discard()
            raise _local(f"moving the bundle into --dest {self.dest}", exc) from exc


# The work


class Hashes:
    """What a bundle's bytes are hashed for, fed the same bytes once: their sha256 (the cache's name for them, and
    only hashed for the cache or for `--sha256`), the digest expected of the archive, if one is, and, for the SDK
    name's digest of the files, that digest while they are written (`files_md5`)."""

    def __init__(self, expected: Expected | None, for_cache: bool) -> None:
        wants_sha256 = for_cache or (expected is not None and expected.algorithm == "sha256")
        self.sha256 = hashlib.sha256() if wants_sha256 else None
        self.expected = None
        if expected is not None and expected.of_archive:
            self.expected = self.sha256 if expected.algorithm == "sha256" else expected.hasher()
        self.files_md5 = StreamedTreeMd5() if expected is not None and expected.algorithm == "sdk-md5" else None

    @property
    def any(self) -> bool:
        """Whether the archive's bytes are hashed at all."""
        return self.sha256 is not None or self.expected is not None

    def update(self, chunk: Any) -> None:
        if self.sha256 is not None:
            self.sha256.update(chunk)
        if self.expected is not None and self.expected is not self.sha256:
            self.expected.update(chunk)


def _verify(expected: Expected | None, hashes: Hashes, tree: Path) -> None:
    if expected is None:
        return
    if expected.of_archive:
        actual = hashes.expected.hexdigest()  # type: ignore[union-attr]
        if actual != expected.hexdigest:
            raise BundleFailure(
                BUNDLE_CHECKSUM_MISMATCH,
                f"the bundle's {expected.algorithm} is {actual}, expected {expected.hexdigest}",
            )
        return
    streamed = hashes.files_md5.hexdigest() if hashes.files_md5 is not None else None
    if streamed is not None and not (tree / MARKER).exists():  # a marker from the archive is not the SDK's file
        actual = streamed
    else:
        actual = sdk_tree_md5(tree, exclude=frozenset({MARKER}))
    if actual != expected.hexdigest:
        raise BundleFailure(
            BUNDLE_CHECKSUM_MISMATCH,
            f"the bundle's files digest to md5 {actual}, its name says {expected.hexdigest} (Flyte SDK fast<md5>.tar.gz)",
        )


def unpack_hashed(chunks: Iterator[Any], target: Path, options: Options, hashes: Hashes, unpacked: Unpacked) -> None:
    unpack_stream(chunks, target, options.limits, hashes if hashes.any else None, unpacked, hashes.files_md5)


def fetch_into(
    chunks: Iterator[Any], target: Path, expected: Expected | None, options: Options, for_cache: bool = False
) -> tuple[Unpacked, Hashes]:
    """Unpack the archive in `chunks` into the empty directory `target`, then verify it against `expected`."""
    hashes = Hashes(expected, for_cache)
    unpacked = Unpacked()
    try:
        unpack_hashed(chunks, target, options, hashes, unpacked)
    except BundleFailure as failure:
        # An archive that is not what was expected is a mismatch first, whatever else is wrong with it.
        if unpacked.hashed_all and expected is not None and expected.of_archive:
            _verify(expected, hashes, target)
        raise failure
    _verify(expected, hashes, target)
    return unpacked, hashes


def run(options: Options) -> Outcome:
    started = time.monotonic()
    dest = options.dest.absolute()
    expected = expected_digest(options.bundle, options.sha256, options.md5)
    fresh = check_dest(dest)

    cache: BundleCache | None = None
    if options.cache_dir is not None:
        try:
            cache = BundleCache(options.cache_dir.absolute(), options.lock_timeout)
        except CacheUnavailable as exc:
            logger.warning("cache unusable, going on without it: %s", exc)

    with Download(
        options.bundle, policy=options.retry, chunk_size=options.chunk_size, concurrency=options.concurrency
    ) as download:
        obj: RemoteObject | None = None
        key = expected.cache_key if expected is not None else None
        if key is None:
            # No digest of the archive (none at all, or the SDK name's ambiguous one): the object's own identity.
            obj = download.stat()
            key = uri_cache_key(options.bundle, obj.version)

        if not fresh:
            if dest_marker(dest) == key:
                logger.info("%s already holds %s", dest, key)
                return Outcome(key, "already-there", seconds=time.monotonic() - started)
            raise BundleFailure(BUNDLE_INVALID_ARGUMENTS, f"--dest {dest} already holds another bundle")

        outcome = Outcome(key, "download")
        staging = Staging(dest)
        try:
            if cache is None or not _through_cache(cache, key, download, obj, expected, options, outcome, staging.path):
                unpacked, _ = fetch_into(download.chunks(obj or download.stat()), staging.path, expected, options)
                _account(outcome, unpacked)
            staging.commit(key)
        except BaseException:
            staging.discard()
            raise
        outcome.requests = download.stats.requests
        outcome.retries = download.stats.retries
    outcome.seconds = time.monotonic() - started
    return outcome


def _account(outcome: Outcome, unpacked: Unpacked) -> None:
    outcome.files = unpacked.files
    outcome.content_bytes = unpacked.content_bytes
    outcome.compressed_bytes = unpacked.compressed_bytes


def _through_cache(
    cache: BundleCache,
    key: str,
    download: Download,
    obj: RemoteObject | None,
    expected: Expected | None,
    options: Options,
    outcome: Outcome,
    target: Path,
) -> bool:
    """The bundle into `target` through the cache: from the key's entry if it verifies, else downloaded once for the
    node (the others wait on the key's lock) and kept. False when the cache cannot be used: `target` is empty then."""
    if _from_cache(cache, key, target, expected, options, outcome):
        return True
    try:
        with cache.locked(key) as have_lock:
            if not have_lock:
                return False
            if _from_cache(cache, key, target, expected, options, outcome):  # another pod filled it meanwhile
                return True
            return _fill(cache, key, download.chunks(obj or download.stat()), target, expected, options, outcome)
    except OSError as exc:
        logger.warning("cache unusable, going on without it: %s", exc.strerror or exc)
        return False


def _from_cache(cache: BundleCache, key: str, target: Path, expected: Expected | None, options: Options, outcome: Outcome) -> bool:
    """Unpack the key's cached archive into `target`, verified as a download is and against the blob's name. An
    entry that does not verify is dropped (False, `target` emptied): the bundle is then downloaded."""
    found = cache.blob_for(key)
    if found is None:
        return False
    blob, sha256 = found
    hashes = Hashes(expected, for_cache=True)
    assert hashes.sha256 is not None
    unpacked = Unpacked()
    try:
        unpack_hashed(_file_chunks(blob, options.chunk_size), target, options, hashes, unpacked)
        if hashes.sha256.hexdigest() != sha256:
            raise BundleFailure(BUNDLE_CHECKSUM_MISMATCH, f"its sha256 is {hashes.sha256.hexdigest()}")
        _verify(expected, hashes, target)
    except (BundleFailure, OSError) as exc:
        corrupt = unpacked.hashed_all and hashes.sha256.hexdigest() != sha256
        message = exc.message if isinstance(exc, BundleFailure) else exc.strerror or str(exc)
        logger.warning("cache: the entry of %s does not verify (%s): downloading the bundle", key, message)
        cache.drop(key, blob if corrupt else None)
        _empty(target)
        return False
    outcome.source = "cache"
    _account(outcome, unpacked)
    return True


def _fill(
    cache: BundleCache, key: str, chunks: Iterator[bytes], target: Path, expected: Expected | None, options: Options, outcome: Outcome
) -> bool:
    """Download into `target` and keep a copy of the archive for the node, under its sha256, once it verified."""
    try:
        archive = cache.staging(key)
    except OSError as exc:
        logger.warning("cache unusable, going on without it: %s", exc.strerror or exc)
        return False
    copy = Copy(archive)
    try:
        unpacked, hashes = fetch_into(copy.of(chunks), target, expected, options, for_cache=True)
        _account(outcome, unpacked)
        if copy.close() and hashes.sha256 is not None:
            try:
                cache.commit(archive, key, hashes.sha256.hexdigest())
            except OSError as exc:  # keeping the copy failed, not the bundle
                logger.warning("cache: cannot keep the bundle: %s", exc.strerror or exc)
    finally:
        copy.close()
        archive.unlink(missing_ok=True)
    return True


class Copy:
    """The archive's bytes, as they stream by, written to a file of the cache; trouble writing it (a full volume)
    only loses the copy, never the download."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: BinaryIO | None = open(path, "wb")  # noqa: SIM115 (closed by close())
        self.whole = True

    def of(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        try:
            for chunk in chunks:
                self._write(chunk)
                yield chunk
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def _write(self, chunk: bytes) -> None:
        if self.file is None or not self.whole:
            return
        try:
            self.file.write(chunk)
        except OSError as exc:
            self.whole = False
            logger.warning("cache: cannot keep the bundle: %s", exc.strerror or exc)

    def close(self) -> bool:
        """True when the file holds every byte written to it."""
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                self.whole = False
            self.file = None
        return self.whole


def _file_chunks(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while block := f.read(size):
            yield block


def _empty(directory: Path) -> None:
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


# The command after `--`


def exec_command(command: list[str], dest: Path) -> None:
    """chdir DEST and exec the command (PATH lookup as execvp does); never returns."""
    program = command[0]
    try:
        os.chdir(dest)
    except OSError as exc:
        raise BundleFailure(BUNDLE_BOOTSTRAP_FAILED, f"cd {dest}: {exc.strerror or exc}") from exc
    if "/" in program:
        if not os.path.isfile(program):
            raise BundleFailure(BUNDLE_COMMAND_NOT_FOUND, f"{program}: no such file (in {dest})")
        if not os.access(program, os.X_OK):
            raise BundleFailure(BUNDLE_COMMAND_NOT_FOUND, f"{program}: not executable")
    elif shutil.which(program) is None:
        raise BundleFailure(BUNDLE_COMMAND_NOT_FOUND, f"{program}: command not found in PATH")
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(program, command)
    except OSError as exc:
        raise BundleFailure(BUNDLE_COMMAND_NOT_FOUND, f"{program}: {exc.strerror or exc}") from exc


def describe(outcome: Outcome, options: Options) -> str:
    where = display_uri(options.bundle)
    if outcome.source == "already-there":
        return f"{where}: {options.dest} already holds it"
    if outcome.source == "cache":
        return f"{where}: from the cache ({outcome.key}) into {options.dest} in {outcome.seconds:.2f}s"
    rate = outcome.compressed_bytes / 1e6 / outcome.seconds if outcome.seconds else 0.0
    return (
        f"{where}: {outcome.compressed_bytes} bytes in {outcome.requests} requests ({outcome.retries} retried), "
        f"{outcome.files} files ({outcome.content_bytes} bytes) into {options.dest} in {outcome.seconds:.2f}s "
        f"({rate:.1f} MB/s)"
    )

