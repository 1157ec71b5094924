"""Which watch events are the echoes of the controller's own writes: not news, since the plan that wrote them
scheduled whatever comes next.

An echo is known by the resourceVersion the write's answer carried. The API server sends the watch event and the
answer at about the same time, and the event often comes first: an event of an object with a write of ours in
flight is therefore held until the answer says whether it was that write's echo. Held events other than the echo
are news when the write ends (`news` is called), and so is anything held when the write failed. Without this, most
status writes cost one more reconcile that decides nothing (seen in the bench: two of five reconciles an action).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from .store import Key


@dataclass
class Write:
    """One write in flight: the versions its object's events carried meanwhile, and the version it wrote."""

    seen: list[str] = field(default_factory=list)
    version: str | None = None

    def answered(self, version: str | None) -> None:
        self.version = version


class Echoes:
    def __init__(self) -> None:
        self._written: dict[Key, str] = {}  # the version of our last write of the object, until its echo comes
        self._in_flight: dict[Key, Write] = {}

    def is_echo(self, key: Key, version: str | None) -> bool:
        """Whether an event of `key` at `version` is not news now: our write's echo, or held for a write in flight."""
        if version is not None and self._written.get(key) == version:
            del self._written[key]
            return True
        write = self._in_flight.get(key)
        if write is not None and version is not None:
            write.seen.append(version)
            return True
        return False

    @contextmanager
    def writing(self, key: Key, news: Callable[[], None]) -> Iterator[Write]:
        """Around one write of `key` (one at a time per key: the work queue's promise); the caller tells the
        answer's version with `answered`. `news` is called when an event held meanwhile was not its echo."""
        write = self._in_flight[key] = Write()
        try:
            yield write
        finally:
            del self._in_flight[key]
            if write.version is not None and write.version not in write.seen:
                self._written[key] = write.version
            if any(version != write.version for version in write.seen):
                news()

    def forget(self, key: Key) -> None:
        self._written.pop(key, None)
