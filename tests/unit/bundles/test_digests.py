"""The SDK name's digest of the files, computed while they stream in: the same as over the unpacked tree when the
archive alone tells it, and no answer (the tree is hashed instead) when it does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from taskaction_operator.bundles.digests import StreamedTreeMd5, sdk_tree_md5
from taskaction_operator.bundles.tar_safety import Limits
from taskaction_operator.bundles.unpack import unpack_stream

from .archives import Member, file, hardlink, md5_of, run_main, symlink, write_tar

pytestmark = pytest.mark.usefixtures("floor")

# Sorted as the SDK sorts them; '.' sorts before '/', so "a.b" comes before "a/b".
SORTED = [file("a-b", "1"), file("a.b", "2"), file("a/b", os.urandom(5000)), file("a/c/d.py", ""), file("z", "3")]


def streamed(tmp_path: Path, members: list[Member]) -> tuple[str | None, str]:
    archive = write_tar(tmp_path / "bundle.tar.gz", members)
    dest = tmp_path / "dest"
    dest.mkdir()
    files_md5 = StreamedTreeMd5()
    unpack_stream(iter([archive.read_bytes()]), dest, Limits(), files_md5=files_md5)
    return files_md5.hexdigest(), sdk_tree_md5(dest)


def test_files_in_the_sdks_order_digest_as_the_tree(tmp_path: Path) -> None:
    digest, of_tree = streamed(tmp_path, SORTED)
    assert digest == of_tree


@pytest.mark.parametrize(
    "members",
    [list(reversed(SORTED)), [*SORTED, symlink("zz", "z")], [*SORTED, hardlink("zz", "z")]],
    ids=["out of order", "a symlink", "a hard link"],
)
def test_no_answer_when_the_archive_alone_does_not_tell(tmp_path: Path, members: list[Member]) -> None:
    digest, _ = streamed(tmp_path, members)
    assert digest is None


def test_a_bundle_out_of_order_is_still_verified_over_its_tree(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    digest, _ = streamed(reference, SORTED)
    assert digest is not None
    good = write_tar(tmp_path / f"fast{digest}.tar.gz", list(reversed(SORTED)))
    assert md5_of(good) != digest
    code, message = run_main("--bundle", good.as_uri(), "--dest", tmp_path / "ok", log=log, monkeypatch=monkeypatch)
    assert code == 0, message
    bad = write_tar(tmp_path / f"fast{digest}.tar.gz", [*reversed(SORTED[1:]), file("a-b", "tampered")])
    code, message = run_main("--bundle", bad.as_uri(), "--dest", tmp_path / "bad", log=log, monkeypatch=monkeypatch)
    assert code == 11 and "BundleChecksumMismatch" in (message or ""), message
