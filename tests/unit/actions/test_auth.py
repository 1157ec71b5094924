"""The gate's cache of the API server's answers: bounded, every entry forgotten after its TTL, off at 0."""

from __future__ import annotations

from taskaction_operator.actions.auth import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_for_its_ttl() -> None:
    clock = Clock()
    cache = TtlCache(10, clock=clock)
    cache.put("token", "alice")
    clock.now = 9.9
    assert cache.get("token") == "alice"
    clock.now = 10.0
    assert cache.get("token") is None


def test_the_oldest_entry_goes_first_when_full() -> None:
    cache = TtlCache(10, size=2, clock=Clock())
    for key in ("a", "b", "c"):
        cache.put(key, key)
    assert [cache.get(key) for key in ("a", "b", "c")] == [None, "b", "c"]


def test_a_ttl_of_zero_remembers_nothing() -> None:
    cache = TtlCache(0, clock=Clock())
    cache.put("token", "alice")
    assert cache.get("token") is None
