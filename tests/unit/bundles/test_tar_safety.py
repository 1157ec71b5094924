"""Hostile archives: every escape is refused (exit 12, BundleUnsafe), nothing is left half-done, nothing lands
outside DEST; links that stay inside are fine; modes are the data filter's, with it and without it."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

import pytest

from .archives import Member, assert_refused, directory, file, hardlink, symlink, unpack, write_tar

pytestmark = pytest.mark.usefixtures("floor")


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


def test_bomb_outside_members_is_refused(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A huge pax header is read into memory by tarfile: refused by its declared size."""
    archive = tmp_path / "pax.tar.gz"
    with tarfile.open(archive, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("x")
        info.pax_headers = {"comment": "z" * (2 * 1024 * 1024)}
        tar.addfile(info)
    code, message, _ = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 12 and "extended header" in message, message


def test_a_sparse_member_is_refused(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its data in the archive is not the file's bytes: no bundle tool writes one, so none is unpacked."""
    info = tarfile.TarInfo("holes")
    info.type = tarfile.GNUTYPE_SPARSE
    archive = tmp_path / "sparse.tar.gz"
    archive.write_bytes(gzip.compress(info.tobuf(format=tarfile.GNU_FORMAT) + bytes(1024)))
    code, message, dest = unpack(tmp_path, log, monkeypatch, archive)
    assert code == 12 and "is a sparse file" in message, message
    assert not dest.exists()
