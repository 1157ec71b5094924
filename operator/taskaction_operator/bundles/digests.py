"""What a bundle is expected to be, and the cache key that follows from it.

- `--sha256 HEX` / `--md5 HEX`: the digest of the archive's bytes, hashed while they stream in.
- No digest, and the object is named like the Flyte SDK's bundles, `fast<md5>.tar.gz`: that md5 is NOT the archive's
  (the SDK's `computed_version` is). It is the SDK's digest of the files it put in (flyte/_code_bundle/_utils.py
  `ls_files`): md5 over the files sorted by path, each contributing its content then its relative path with the
  separators removed. We recompute it over the unpacked tree (`sdk_tree_md5`) before the tree is put in place, also
  for a bundle from the cache; the cache key is the URI's, as for no digest.
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
