"""The stream: plain and gzip-compressed tars told apart, multi-member gzip, chunks ending anywhere."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import pytest

from taskaction_operator.bundles.tar_safety import Limits
from taskaction_operator.bundles.unpack import unpack_stream

from .archives import directory, file, unpack, write_tar

pytestmark = pytest.mark.usefixtures("floor")


@pytest.mark.parametrize("suffix", [".tar", ".tgz", ".tar.gz"])
def test_plain_and_compressed_tars(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    archive = write_tar(tmp_path / f"bundle{suffix}", [directory("a"), file("a/b.txt", "b")], compression="" if suffix == ".tar" else "gz")
    code, message, dest = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 0, message
    assert (dest / "a" / "b.txt").read_text() == "b"


def test_dot_entries_and_multi_member_gzip(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`tar czf x.tgz .` style names, and a gzip stream of several members (pigz, cat a.gz b.gz)."""
    raw = write_tar(tmp_path / "raw.tar", [directory("."), directory("./pkg"), file("./pkg/m.py", "m")], compression="").read_bytes()
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(gzip.compress(raw[:1024]) + gzip.compress(raw[1024:]))
    code, message, dest = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 0, message
    assert (dest / "pkg" / "m.py").read_text() == "m"


def test_gzip_members_split_anywhere_across_chunks(tmp_path: Path) -> None:
    """Download chunks end anywhere: within a header, a trailer, or the next member's two-byte magic."""
    raw = write_tar(tmp_path / "raw.tar", [file("pkg/a.py", os.urandom(3000)), file("pkg/b.py", "b")], compression="").read_bytes()
    first = gzip.compress(raw[:2048])
    data = first + gzip.compress(raw[2048:])
    chunkings = {
        "one byte at a time": [data[i : i + 1] for i in range(len(data))],
        "magic split": [data[: len(first) + 1], data[len(first) + 1 :]],
    }
    for name, chunks in chunkings.items():
        dest = tmp_path / name
        dest.mkdir()
        unpack_stream(iter(chunks), dest, Limits())
        assert (dest / "pkg" / "b.py").read_text() == "b", name
