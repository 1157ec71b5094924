"""What an untrusted tar may contain, checked member by member before anything of it is written; everything else is
refused (BundleUnsafe), never skipped:

- names that are absolute, contain `..`, or are too long; duplicates (except a directory repeated);
- symlinks whose target is absolute or resolves outside the destination, hard links to anything but a regular file
  already extracted, members written through or over a link; resolution is lexical, on our own record of the links
  extracted so far (`Tree`, independent of os.path.realpath), and every link is checked again once the tree is
  complete (`check_links_final`: a later link cannot make an earlier one escape);
- character and block devices, fifos, anything but regular files, directories, symlinks and hard links; sparse
  files (which no tool that makes bundles writes, and whose data is not the file's bytes);
- long-name and pax headers larger than MAX_HEADER_BYTES (`BoundedTarInfo`: tarfile reads them whole);
- beyond the `Limits`: more than `max_members` members, more than `max_bytes` of file contents, an inflated stream
  larger than the contents plus the tar headers could be (a bomb hidden outside members).
On top of these, tarfile's `data` filter is applied to every member where Python has it (3.11.4+; the floor: its
refusals and its modes); without it (Debian bookworm's 3.11.2), the same modes are computed here (`floor_mode`).
"""

from __future__ import annotations

import tarfile
from collections import deque
from dataclasses import dataclass, field

from .errors import BUNDLE_UNSAFE, BundleFailure

DEFAULT_MAX_BYTES = 2 * 1024**3
DEFAULT_MAX_MEMBERS = 100_000
MAX_NAME_BYTES = 4096
MAX_COMPONENT_BYTES = 255
MAX_LINK_HOPS = 40
# Per member, at most: a 512-byte header, long-name/pax headers, padding. Plus the end-of-archive blocks and the
# record padding (tarfile pads to 10 KiB; others to more).
HEADER_ALLOWANCE_PER_MEMBER = 4096
TRAILER_ALLOWANCE = 16 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS

    @property
    def max_stream_bytes(self) -> int:
        return self.max_bytes + self.max_members * HEADER_ALLOWANCE_PER_MEMBER + TRAILER_ALLOWANCE


def unsafe(message: str) -> BundleFailure:
    return BundleFailure(BUNDLE_UNSAFE, message)


def split_name(name: str, what: str = "member") -> tuple[str, ...]:
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise unsafe(f"{what} name longer than {MAX_NAME_BYTES} bytes")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        raise unsafe(f"{what} {name!r} is an absolute path")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise unsafe(f"{what} {name!r} escapes the destination (..)")
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > MAX_COMPONENT_BYTES:
            raise unsafe(f"{what} {name!r} has a path component longer than {MAX_COMPONENT_BYTES} bytes")
        if "\x00" in part:
            raise unsafe(f"{what} {name!r} contains a NUL byte")
    return parts


@dataclass
class Tree:
    """Paths (tuples of components, relative to the destination) extracted so far, by kind."""

    links: dict[tuple[str, ...], str] = field(default_factory=dict)
    files: set[tuple[str, ...]] = field(default_factory=set)
    dirs: set[tuple[str, ...]] = field(default_factory=set)

    def resolve(self, components: tuple[str, ...] | list[str], what: str) -> tuple[str, ...]:
        """Follow our symlinks and `..` lexically; raise when the path leaves the destination."""
        stack: list[str] = []
        todo: deque[str] = deque(components)
        hops = 0
        while todo:
            part = todo.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    raise unsafe(f"{what} resolves outside the destination")
                stack.pop()
                continue
            stack.append(part)
            target = self.links.get(tuple(stack))
            if target is not None:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise unsafe(f"{what}: too many levels of symbolic links")
                stack.pop()
                if target.startswith("/"):
                    raise unsafe(f"{what} goes through a link to the absolute path {target!r}")
                todo.extendleft(reversed(target.split("/")))
        return tuple(stack)

    def taken(self, path: tuple[str, ...]) -> bool:
        return path in self.links or path in self.files or path in self.dirs


def check_member(member: tarfile.TarInfo, tree: Tree) -> tuple[tuple[str, ...], tuple[str, ...] | None] | None:
    """(the member's resolved path, a hard link's resolved target) if it may be extracted, None for the
    destination's own `.` entry; raises BundleUnsafe otherwise. Records the member in `tree`. Resolved paths go
    through no symbolic link: every component is a directory we created."""
    name = member.name
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        kind = {
            tarfile.CHRTYPE: "a character device",
            tarfile.BLKTYPE: "a block device",
            tarfile.FIFOTYPE: "a fifo",
        }.get(member.type, f"of type {member.type!r}")
        raise unsafe(f"member {name!r} is {kind}")
    if member.sparse is not None:
        raise unsafe(f"member {name!r} is a sparse file")
    parts = split_name(name)
    if not parts:
        if member.isdir():
            return None
        raise unsafe(f"member {name!r} has an empty name")
    parent = tree.resolve(parts[:-1], f"member {name!r}")
    for i in range(1, len(parent) + 1):  # the parents are (or become) directories
        if parent[:i] in tree.files:
            raise unsafe(f"member {name!r} is below the file {'/'.join(parent[:i])!r}")
        tree.dirs.add(parent[:i])
    path = parent + (parts[-1],)
    if path in tree.links:
        raise unsafe(f"member {name!r} would be written through the symbolic link extracted before it")
    if tree.taken(path) and not (member.isdir() and path in tree.dirs):
        raise unsafe(f"member {name!r} appears twice")
    if member.issym():
        target = member.linkname
        if not target:
            raise unsafe(f"symbolic link {name!r} has an empty target")
        if target.startswith("/"):
            raise unsafe(f"symbolic link {name!r} points to the absolute path {target!r}")
        if len(target.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
            raise unsafe(f"symbolic link {name!r} has a target longer than {MAX_NAME_BYTES} bytes")
        tree.resolve(list(parent) + target.split("/"), f"symbolic link {name!r} -> {target!r}")
        tree.links[path] = target
    elif member.islnk():
        target_parts = split_name(member.linkname, f"hard link {name!r} target")
        target = tree.resolve(target_parts, f"hard link {name!r} -> {member.linkname!r}")
        if target not in tree.files:
            raise unsafe(f"hard link {name!r} points to {member.linkname!r}, not a file extracted before it")
        tree.files.add(path)
        return path, target
    elif member.isdir():
        tree.dirs.add(path)
    else:
        tree.files.add(path)
    return path, None


def check_links_final(tree: Tree) -> None:
    """Every link, resolved in the complete tree, must stay inside it."""
    for path, target in tree.links.items():
        tree.resolve(list(path[:-1]) + target.split("/"), f"symbolic link {'/'.join(path)!r} -> {target!r}")


MAX_HEADER_BYTES = 1024 * 1024
_EXTENDED_HEADERS = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)


class BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads long-name and pax headers into memory whole: bound them (a bomb hidden in a header)."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.type in _EXTENDED_HEADERS and self.size > MAX_HEADER_BYTES:
            raise unsafe(f"an extended header of {self.size} bytes (limit {MAX_HEADER_BYTES})")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


_DATA_FILTER = getattr(tarfile, "data_filter", None)  # Python >= 3.11.4 (Debian bookworm's 3.11.2 has none)


def floor_mode(member: tarfile.TarInfo) -> int | None:
    """The modes tarfile's `data` filter allows: no setuid/setgid/sticky, no group/other write; files readable
    and writable by their owner, executable by nobody unless by their owner; directories and links: defaults."""
    if member.isdir() or member.issym():
        return None
    mode = member.mode & 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


def data_filter(member: tarfile.TarInfo, dest: str) -> int | None:
    """tarfile's `data` filter as the floor, where Python has it: its refusals are ours, and so are its modes.
    Without it, `check_member` (a superset of its checks) and `floor_mode` hold alone."""
    if _DATA_FILTER is None:
        return floor_mode(member)
    try:
        filtered = _DATA_FILTER(member, dest)
    except tarfile.FilterError as exc:  # type: ignore[attr-defined]
        raise unsafe(f"member {member.name!r} refused by the data filter: {exc}") from exc
    return None if member.isdir() or member.issym() else filtered.mode
