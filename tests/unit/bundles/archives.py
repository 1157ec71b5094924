"""Crafting (hostile) archives with tarfile, running taskaction-bootstrap on them, and telling a refusal."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from taskaction_operator.bundles.__main__ import main
from taskaction_operator.bundles.errors import BUNDLE_UNSAFE, parse_termination_message

BOOTSTRAP = [sys.executable, "-m", "taskaction_operator.bundles"]


@dataclass
class Member:
    name: str
    data: bytes | None = None
    type: bytes = tarfile.REGTYPE
    linkname: str = ""
    mode: int = 0o644
    size: int | None = None  # a declared size with a stream of zeros (bombs)

    def info(self) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.name)
        info.type = self.type
        info.linkname = self.linkname
        info.mode = self.mode
        if self.type == tarfile.DIRTYPE:
            info.mode = 0o755
        if self.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
            info.size = self.size if self.size is not None else len(self.data or b"")
        if self.type in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            info.devmajor, info.devminor = 1, 3
        return info


def file(name: str, data: bytes | str = b"x", mode: int = 0o644) -> Member:
    return Member(name, data.encode() if isinstance(data, str) else data, mode=mode)


def directory(name: str) -> Member:
    return Member(name, type=tarfile.DIRTYPE)


def symlink(name: str, target: str) -> Member:
    return Member(name, type=tarfile.SYMTYPE, linkname=target)


def hardlink(name: str, target: str) -> Member:
    return Member(name, type=tarfile.LNKTYPE, linkname=target)


class Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def write_tar(path: Path, members: Iterable[Member], compression: str = "gz", level: int = 6) -> Path:
    mode = {"gz": "w:gz", "": "w"}[compression]
    kwargs = {"compresslevel": level} if compression == "gz" else {}
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT, **kwargs) as tar:  # type: ignore[call-overload]
        for member in members:
            info = member.info()
            if info.isreg():
                fileobj = io.BytesIO(member.data or b"") if member.size is None else io.BufferedReader(Zeros(info.size), 1 << 20)
                tar.addfile(info, fileobj)
            else:
                tar.addfile(info)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    message: str | None  # the termination-message file


def bootstrap(*args: str | Path, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """The real CLI in a subprocess (exec, exit codes, the termination message)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLYTE_AWS_", "TASKACTION_"))}
    full_env["TASKACTION_TERMINATION_LOG"] = str(log)
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    full_env.update(env or {})
    proc = subprocess.run(
        [*BOOTSTRAP, *map(str, args)], capture_output=True, text=True, env=full_env, timeout=120, cwd=cwd
    )
    message = log.read_text() if log.exists() else None
    return Result(proc.returncode, proc.stdout, proc.stderr, message)


def run_main(*args: str | Path, log: Path, monkeypatch) -> tuple[int, str | None]:  # type: ignore[no-untyped-def]
    """The CLI in-process (no `--` command): exit code and termination message."""
    monkeypatch.setenv("TASKACTION_TERMINATION_LOG", str(log))
    if log.exists():
        log.unlink()
    code = main([str(a) for a in args])
    return code, (log.read_text() if log.exists() else None)


def unpack(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch, archive: Path, *extra: str) -> tuple[int, str, Path]:
    """The CLI in-process on `archive` into tmp_path/work/dest: exit code, termination message, DEST."""
    dest = tmp_path / "work" / "dest"
    code, message = run_main("--bundle", archive.as_uri(), "--dest", dest, *extra, log=log, monkeypatch=monkeypatch)
    return code, message or "", dest


def assert_refused(tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch, members: list[Member], *extra: str, says: str = "") -> str:
    """The archive of `members` is refused as BundleUnsafe, saying `says`, and leaves nothing behind."""
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
