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
