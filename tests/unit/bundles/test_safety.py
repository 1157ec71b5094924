"""Hostile archives: every escape is refused (exit 12, BundleUnsafe), nothing is left half-done, nothing lands
outside DEST."""

from __future__ import annotations

import gzip
import os
import tarfile
import time
from pathlib import Path

import pytest

from taskaction_operator.bundles import unpack as unpack_module
from taskaction_operator.bundles.errors import BUNDLE_UNSAFE, parse_termination_message

from .archives import Member, directory, file, hardlink, run_main, symlink, write_tar


@pytest.fixture(autouse=True, params=["data-filter", "no-data-filter"])
def floor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test twice: with tarfile's data filter (Python >= 3.11.4), and without it (Debian bookworm's 3.11.2,
    the Python of the images e2e/build-images.sh makes), where our own checks and modes hold alone."""
    if request.param == "no-data-filter":
        monkeypatch.setattr(unpack_module, "_DATA_FILTER", None)
    return str(request.param)


def unpack(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch, archive: Path, *extra: str) -> tuple[int, str, Path]:
    dest = tmp_path / "work" / "dest"
    code, message = run_main("--bundle", archive.as_uri(), "--dest", dest, *extra, log=log, monkeypatch=monkeypatch)
    return code, message or "", dest


def assert_refused(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch, members: list[Member], *extra: str, says: str = "") -> str:
    archive = write_tar(tmp_path / "bundle.tar.gz", members)
    code, message, dest = unpack(tmp_path, log, monkeypatch, archive, *extra)
    assert code == 12, message
    parsed = parse_termination_message(message)
    assert parsed is not None and parsed[0] is BUNDLE_UNSAFE, message
    assert says.lower() in parsed[1].lower(), message
    # Nothing half-done: no DEST, no staging directory beside it, nothing written outside.
    assert not dest.exists()
    assert os.listdir(dest.parent) == []
    return parsed[1]


@pytest.mark.parametrize(
    ("members", "says"),
    [
        ([file("../x", "evil")], "escapes"),
        ([file("a/../../x", "evil")], "escapes"),
        ([file("/etc/x", "evil")], "absolute"),
        ([symlink("etc", "/etc")], "absolute"),
        ([symlink("up", "../../../etc")], "outside"),
        ([directory("sub"), symlink("sub/up", ".."), symlink("esc", "sub/up/..")], "outside"),
        # a chain: each link inside on its own, the second leads the first out
        ([symlink("a", "b"), symlink("b", "../outside")], "outside"),
        # a later link makes an earlier one escape: x -> y/.. is inside while y is a directory, outside once y -> .
        ([symlink("x", "y/.."), symlink("y", ".")], "outside"),
        # writing through a link
        ([directory("d"), symlink("l", "d"), file("l", "overwrites")], "symbolic link"),
        ([symlink("l", "elsewhere"), file("l/x"), symlink("elsewhere", "..")], "twice"),
        ([file("f"), file("f/x")], "below the file"),
        ([hardlink("h", "../../etc/passwd")], "escapes"),
        ([hardlink("h", "/etc/passwd")], "absolute"),
        ([hardlink("h", "later"), file("later")], "not a file extracted before"),
        ([directory("d"), hardlink("h", "d")], "not a file"),
        ([Member("dev", type=tarfile.CHRTYPE)], "character device"),
        ([Member("blk", type=tarfile.BLKTYPE)], "block device"),
        ([Member("fifo", type=tarfile.FIFOTYPE)], "fifo"),
        ([file("twice"), file("twice")], "twice"),
        ([file("a" * 300)], "longer than"),
    ],
    ids=[
        "dotdot",
        "dotdot-inside",
        "absolute",
        "symlink-to-etc",
        "symlink-up",
        "symlink-through-link-dir",
        "symlink-chain",
        "symlink-made-escaping-later",
        "file-over-symlink",
        "file-through-dangling-link",
        "file-below-file",
        "hardlink-dotdot",
        "hardlink-absolute",
        "hardlink-forward",
        "hardlink-to-directory",
        "char-device",
        "block-device",
        "fifo",
        "duplicate",
        "long-name",
    ],
)
def test_escapes_are_refused(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch, members: list[Member], says: str) -> None:
    assert_refused(tmp_path, log, monkeypatch, members, says=says)
    assert not (tmp_path / "x").exists() and not (tmp_path / "work" / "x").exists()


def test_links_inside_are_fine(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = [
        directory("pkg"),
        file("pkg/mod.py", "print('hi')\n"),
        file("pkg/run.sh", "#!/bin/sh\necho run\n", mode=0o755),
        symlink("current", "pkg"),
        symlink("pkg/self", "../pkg/mod.py"),
        hardlink("copy.py", "pkg/mod.py"),
        file("current/through-link.txt", "ok"),
    ]
    archive = write_tar(tmp_path / "bundle.tar.gz", members)
    code, message, dest = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 0, message
    assert (dest / "current" / "mod.py").read_text() == "print('hi')\n"
    assert (dest / "pkg" / "self").read_text() == "print('hi')\n"
    assert (dest / "copy.py").stat().st_ino == (dest / "pkg" / "mod.py").stat().st_ino
    assert (dest / "pkg" / "through-link.txt").read_text() == "ok"
    assert os.access(dest / "pkg" / "run.sh", os.X_OK)
    assert not os.access(dest / "pkg" / "mod.py", os.X_OK)


def test_setuid_and_group_write_are_stripped(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = write_tar(tmp_path / "bundle.tar.gz", [file("tool", "#!/bin/sh\n", mode=0o6777)])
    code, message, dest = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 0, message
    assert (dest / "tool").stat().st_mode & 0o7777 == 0o755


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


def test_bomb_outside_members_is_refused(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A huge pax header is read into memory by tarfile: refused by its declared size."""
    archive = tmp_path / "pax.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "z" * (2 * 1024 * 1024)}
        tar.addfile(info)
    code, message, _ = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 12 and "extended header" in message, message


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
        unpack_module.unpack_stream(iter(chunks), dest, unpack_module.Limits())
        assert (dest / "pkg" / "b.py").read_text() == "b", name
