"""ghosts: what the stores hold that a listing lacks, and is not newer than it, is a ghost."""

from __future__ import annotations

from typing import Any

from taskaction_operator.controller.ghosts import ghosts
from taskaction_operator.controller.store import ObjectStore


def obj(namespace: str, name: str, rv: int) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "uid": f"uid-{name}", "resourceVersion": str(rv)}}


def test_missing_from_the_listing_and_older_than_it_is_a_ghost() -> None:
    store = ObjectStore()
    for o in (obj("a", "kept", 10), obj("a", "deleted-in-the-gap", 12), obj("a", "made-after-the-listing", 60), obj("b", "elsewhere", 5)):
        store.put(o)
    found = ghosts(store, ["a"], listed={("a", "kept")}, listed_at=50)
    assert [g["metadata"]["name"] for g in found] == ["deleted-in-the-gap"]


def test_cluster_wide_listing_covers_every_namespace() -> None:
    store = ObjectStore()
    store.put(obj("a", "x", 1))
    store.put(obj("b", "y", 1))
    assert {g["metadata"]["name"] for g in ghosts(store, [None], listed={("a", "x")}, listed_at=5)} == {"y"}


async def test_the_sweep_lists_in_pages_small_enough_to_decode() -> None:
    """A page is decoded whole (and the allocator keeps its high-water mark): the listing asks for PAGE_SIZE at a
    time and follows the continue tokens to the end."""
    from taskaction_operator.controller.ghosts import _listing
    from taskaction_operator.controller.watches import PAGE_SIZE

    names = [f"pod-{i}" for i in range(2 * PAGE_SIZE + 1)]
    limits: list[int] = []

    async def page(namespace: str | None, selector: str, limit: int, cont: str | None) -> dict[str, Any]:
        limits.append(limit)
        start = int(cont or 0)
        rest = str(start + limit) if start + limit < len(names) else None
        return {"metadata": {"resourceVersion": "77", "continue": rest}, "items": [obj("a", n, 1) for n in names[start:start + limit]]}

    keys, at = await _listing(page, "a", "")
    assert keys == {("a", n) for n in names} and at == 77
    assert limits == [PAGE_SIZE] * 3 and PAGE_SIZE <= 100
