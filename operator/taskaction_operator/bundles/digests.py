"""What a bundle is expected to be, and the cache key that follows from it.

- `--sha256 HEX` / `--md5 HEX`: the digest of the archive's bytes, hashed while they stream in.
- No digest, and the object is named like the Flyte SDK's bundles, `fast<md5>.tar.gz`: that md5 is NOT the archive's
  (the SDK's `computed_version` is). It is the SDK's digest of the files it put in (flyte/_code_bundle/_utils.py
  `ls_files`): md5 over the files sorted by path, each contributing its content then its relative path with the
  separators removed. We recompute it before the tree is put in place, also for a bundle from the cache: while the
  files stream in (`StreamedTreeMd5`) when the archive alone tells it (the SDK's: regular files in its sorted
  order), else over the unpacked tree (`sdk_tree_md5`). The cache key is the URI's, as for no digest.
- Neither: nothing to verify; the cache key is the sha256 of the URI and the object's version (ETag, else size and
  modification time), so a replaced object is a different key.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import BUNDLE_INVALID_ARGUMENTS, BundleFailure

FAST_NAME = re.compile(r"^fast(?P<md5>[0-9a-f]{32})\.tar\.gz$")
_HEX = {"sha256": re.compile(r"^[0-9a-f]{64}$"), "md5": re.compile(r"^[0-9a-f]{32}$")}
BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Expected:
    """`algorithm` is sha256 or md5 (of the archive) or sdk-md5 (of the unpacked files, from the name)."""

    algorithm: str
    hexdigest: str

    @property
    def of_archive(self) -> bool:
        return self.algorithm in ("sha256", "md5")

    @property
    def cache_key(self) -> str | None:
        """The key a cached bundle is found by from the digest alone: an archive's digest; None for the SDK name's
        file digest, which is ambiguous (paths lose their separators, contents and paths run together) and so never
        what finds a cached bundle."""
        return f"{self.algorithm}-{self.hexdigest}" if self.of_archive else None

    def hasher(self) -> Any:
        return hashlib.new(self.algorithm) if self.of_archive else None

    def describe(self) -> str:
        return f"{self.algorithm} {self.hexdigest}"


def name_of(uri: str) -> str:
    return os.path.basename(urlsplit(uri).path)


def expected_digest(uri: str, sha256: str | None = None, md5: str | None = None) -> Expected | None:
    if sha256 and md5:
        raise BundleFailure(BUNDLE_INVALID_ARGUMENTS, "give --sha256 or --md5, not both")
    for algorithm, value in (("sha256", sha256), ("md5", md5)):
        if value is not None:
            value = value.strip().lower()
            if not _HEX[algorithm].match(value):
                raise BundleFailure(BUNDLE_INVALID_ARGUMENTS, f"--{algorithm} is not a hex {algorithm} digest")
            return Expected(algorithm, value)
    match = FAST_NAME.match(name_of(uri))
    if match:
        return Expected("sdk-md5", match.group("md5"))
    return None


def uri_cache_key(uri: str, version: str | None) -> str:
    text = uri if version is None else f"{uri}\n{version}"
    return "uri-" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def tree_files(root: Path, exclude: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(relative posix path, absolute path) of the regular files under root (symlinks to files included, as the SDK
    reads through them), sorted by relative path; top-level names in `exclude` are left out."""
    found: list[tuple[str, str]] = []
    for directory, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        if rel_dir == ".":
            dirnames[:] = [d for d in dirnames if d not in exclude]
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if rel_dir == "." and name in exclude:
                continue
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                found.append((rel.replace(os.sep, "/"), path))
    found.sort()
    return found


def sdk_tree_md5(root: Path, exclude: frozenset[str] = frozenset()) -> str:
    """The Flyte SDK's file digest (the md5 in `fast<md5>.tar.gz`) of the tree under root."""
    hasher = hashlib.md5()
    for rel, path in tree_files(root, exclude):
        with open(path, "rb") as f:
            while block := f.read(BLOCK):
                hasher.update(block)
        hasher.update(rel.replace("/", "").encode("utf-8"))
    return hasher.hexdigest()


class StreamedTreeMd5:
    """`sdk_tree_md5` of the tree being unpacked, fed its files as they are written (`begin`, `update`, `end`), in
    archive order. It is that digest only when the archive alone determines it: regular files only (the SDK's digest
    reads through links) in the order the SDK sorts them. `hexdigest()` is None otherwise, and hashing stops then."""

    def __init__(self) -> None:
        self._md5: Any = hashlib.md5()
        self._last: str | None = None
        self._path = b""

    def invalidate(self) -> None:
        self._md5 = None

    def begin(self, rel: str) -> bool:
        """A regular file at `rel` (posix, relative to the root) follows; False when its contents need not be fed."""
        if self._md5 is None:
            return False
        if self._last is not None and rel <= self._last:
            self.invalidate()
            return False
        try:
            self._path = rel.replace("/", "").encode("utf-8")
        except UnicodeEncodeError:
            self.invalidate()
            return False
        self._last = rel
        return True

    def update(self, data: Any) -> None:
        if self._md5 is not None:
            self._md5.update(data)

    def end(self) -> None:
        if self._md5 is not None:
            self._md5.update(self._path)

    def hexdigest(self) -> str | None:
        return None if self._md5 is None else self._md5.hexdigest()
