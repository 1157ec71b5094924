"""Extraction limits and archives that are not (whole) tars: refused with exit 12 (BundleUnsafe), DEST untouched."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from pathlib import Path

import pytest

from .archives import Member, assert_refused, file, unpack, write_tar

pytestmark = pytest.mark.usefixtures("floor")


def test_a_gigabyte_of_zeros_is_refused_before_it_is_inflated(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = write_tar(tmp_path / "bomb.tar.gz", [file("ok.txt", "fine"), Member("zeros", size=1 << 30)], level=1)
    assert archive.stat().st_size < 5 * 1024 * 1024  # ~1 MB: a ratio of 1000:1
    started = time.monotonic()
    code, message, dest = unpack(tmp_path, log, monkeypatch, archive, "--max-bytes", "100MiB")
    assert code == 12 and "contents exceed 104857600 bytes" in message, message
    assert time.monotonic() - started < 10
    assert not dest.exists() and os.listdir(dest.parent) == []


def test_default_limit_is_two_gibibytes(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A header declaring 2 GiB + 1 byte is refused as soon as it is read (its data need not even be there)."""
    info = tarfile.TarInfo("huge")
    info.size = (2 << 30) + 1
    archive = tmp_path / "huge.tar.gz"
    archive.write_bytes(gzip.compress(info.tobuf(format=tarfile.PAX_FORMAT) + bytes(4096)))
    code, message, _ = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 12 and f"contents exceed {2 << 30} bytes" in message, message


def test_too_many_members(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = [file(f"f{i}") for i in range(11)]
    assert_refused(tmp_path, log, monkeypatch, members, "--max-members", "10", says="more than 10 members")


def test_too_many_bytes_in_many_files(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = [file(f"f{i}", os.urandom(1000)) for i in range(10)]
    assert_refused(tmp_path, log, monkeypatch, members, "--max-bytes", "5000", says="exceed 5000 bytes")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "not a tar"),
        (b"definitely not a tar archive\n" * 100, "not a tar"),
        (gzip.compress(b"plain text, gzipped\n" * 100), "not a tar"),
        (b"PK\x03\x04" + os.urandom(2000), "not a tar"),
    ],
    ids=["empty", "text", "gzip-of-text", "zip"],
)
def test_not_a_tar(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, says: str) -> None:
    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(content)
    code, message, dest = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 12 and says in message, message
    assert not dest.exists()


def test_truncated_and_corrupt_archives(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = write_tar(tmp_path / "good.tar.gz", [file(f"f{i}", os.urandom(50_000)) for i in range(5)]).read_bytes()
    for name, content in [("truncated", good[: len(good) // 2]), ("corrupt", good[:1000] + bytes(2000) + good[3000:])]:
        archive = tmp_path / f"{name}.tar.gz"
        archive.write_bytes(content)
        code, message, dest = unpack(tmp_path, log, monkeypatch, archive)
        assert code == 12, (name, message)
        assert not dest.exists(), name


@pytest.mark.parametrize("format_", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT], ids=["pax", "gnu"])
def test_long_names_links_and_big_files_byte_for_byte(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch, format_: int) -> None:
    """Headers through tarfile's parser (pax or GNU long names and link names, non-ASCII), contents written straight
    from the inflated blocks: a file spanning several of them, an empty one, one that ends on a block boundary."""
    deep = "/".join(["päckage"] * 30)  # over 100 bytes: a long-name header
    contents = {f"{deep}/big.bin": os.urandom(9 * 1024 * 1024 + 7), f"{deep}/empty.py": b"", "blocks.bin": os.urandom(4096)}
    archive = tmp_path / "bundle.tar.gz"
    with tarfile.open(archive, "w:gz", format=format_, compresslevel=1) as tar:
        for name, data in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(f"{deep}/link-to-big")
        link.type, link.linkname = tarfile.SYMTYPE, "big.bin"
        tar.addfile(link)
    code, message, dest = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 0, message
    for name, data in contents.items():
        assert (dest / name).read_bytes() == data, name
    assert (dest / deep / "link-to-big").read_bytes() == contents[f"{deep}/big.bin"]
