"""The cache-service client against the double (flyteidl2's own CacheService over Connect, on loopback) and local
files as the store: what it asks, what it answers, and that trouble is an answer, never an exception."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from flyteidl2.cacheservice import cacheservice_pb2 as base
from flyteidl2.cacheservice.v2 import cacheservice_pb2 as v2
from flyteidl2.core import identifier_pb2, literals_pb2

from taskaction_operator.catalog import client as cache
from taskaction_operator.settings import Settings
from tests.support.cache_service import CacheServiceDouble, cache_service

TASK_ID = identifier_pb2.Identifier(resource_type=identifier_pb2.TASK, project="p", domain="d", name="m.t", version="v7", org="o")
EXECUTION = cache.Execution("p", "d", "r1", "a0", 1)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SCHEMES = ("s3", "file")
OUTPUTS = literals_pb2.LiteralMap(literals={"o0": literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=333)))})


@pytest.fixture(scope="module")
def double() -> Iterator[CacheServiceDouble]:
    with cache_service() as running:
        yield running


@pytest.fixture
def client(double: CacheServiceDouble) -> cache.CacheClient:
    double.entries.clear()
    double.requests.clear()
    return cache.CacheClient(double.url, Settings(), SCHEMES, timeout_seconds=5)


def outputs_file(directory: Path, name: str = "outputs.pb") -> str:
    directory.mkdir(parents=True, exist_ok=True)
    return f"file://{directory / name}"


def test_put_request_carries_the_output_uri_and_where_it_came_from() -> None:
    request = cache.put_request("k", TASK_ID, "s3://b/x/outputs.pb", EXECUTION, NOW)
    assert request.identifier == v2.Identifier(org="o", project="p", domain="d")
    output = request.base_request.output
    assert (request.base_request.key, output.output_uri, request.base_request.overwrite.overwrite) == ("k", "s3://b/x/outputs.pb", False)
    assert output.metadata.source_identifier == TASK_ID
    assert dict(output.metadata.key_map.values) == {
        "task-version": "v7", "exec-project": "p", "exec-domain": "d", "execution-name": "r1", "exec-node": "a0", "exec-attempt": "1", "exec-org": "",
    }
    assert output.metadata.created_at.ToDatetime(UTC) == NOW


def entry(uri: str = "s3://b/o.pb", updated: datetime | None = NOW) -> base.CachedOutput:
    output = base.CachedOutput(output_uri=uri, metadata=base.Metadata())
    if updated is not None:
        output.metadata.last_updated_at.FromDatetime(updated)
    return output


def test_what_is_no_hit() -> None:
    assert cache.entry_problem(entry(), NOW, 0, SCHEMES) is None
    assert cache.entry_problem(base.CachedOutput(output_uri="s3://b/o.pb"), NOW, 0, SCHEMES) == "received malformed response from cache service"
    assert cache.entry_problem(entry(updated=NOW - timedelta(hours=2)), NOW, 3600, SCHEMES) == "artifact over age limit"
    assert cache.entry_problem(entry(updated=None), NOW, 3600, SCHEMES) == "received cache metadata without last_updated_at"
    assert "not a scheme the operator reads" in (cache.entry_problem(entry("http://evil/x"), NOW, 0, SCHEMES) or "")


async def test_a_miss_then_a_put_then_a_hit_that_copies_the_outputs(client: cache.CacheClient, double: CacheServiceDouble, tmp_path: Path) -> None:
    first = outputs_file(tmp_path / "a0" / "1")
    assert await client.get("k", TASK_ID, first, NOW) == cache.CacheAnswer(cache.MISS)
    Path(first.removeprefix("file://")).write_bytes(OUTPUTS.SerializeToString())
    assert await client.put("k", TASK_ID, first, EXECUTION, NOW) == cache.CacheAnswer(cache.POPULATED)
    assert await client.put("k", TASK_ID, first, EXECUTION, NOW) == cache.CacheAnswer(cache.POPULATED)  # ALREADY_EXISTS
    second = outputs_file(tmp_path / "b0" / "1")
    assert await client.get("k", TASK_ID, second, NOW) == cache.CacheAnswer(cache.HIT)
    assert literals_pb2.LiteralMap.FromString(Path(second.removeprefix("file://")).read_bytes()) == OUTPUTS
    assert [r.base_request.key for r in double.received(v2.GetCacheRequest)] == ["k", "k"]
    assert [r.identifier.org for r in double.received(v2.PutCacheRequest)] == ["o", "o"]


async def test_a_hit_with_literals_is_written_as_outputs(client: cache.CacheClient, double: CacheServiceDouble, tmp_path: Path) -> None:
    double.entries["k"] = base.CachedOutput(output_literals=OUTPUTS, metadata=base.Metadata())
    target = outputs_file(tmp_path)
    assert await client.get("k", TASK_ID, target, NOW) == cache.CacheAnswer(cache.HIT)
    assert literals_pb2.LiteralMap.FromString(Path(target.removeprefix("file://")).read_bytes()) == OUTPUTS


async def test_trouble_is_a_failure_status(client: cache.CacheClient, double: CacheServiceDouble, tmp_path: Path) -> None:
    target = outputs_file(tmp_path)
    with double.down():
        got, put = await client.get("k", TASK_ID, target, NOW), await client.put("k", TASK_ID, target, EXECUTION, NOW)
    assert (got.status, put.status) == (cache.LOOKUP_FAILURE, cache.PUT_FAILURE)
    assert "unavailable" in got.reason and "unavailable" in put.reason
    double.seed("gone", f"file://{tmp_path}/missing.pb")
    missing = await client.get("gone", TASK_ID, target, NOW)
    assert missing.status == cache.LOOKUP_FAILURE and "copying the cached outputs" in missing.reason
    (tmp_path / "junk.pb").write_bytes(b"\xff\xff\xff")
    double.seed("junk", f"file://{tmp_path}/junk.pb")
    junk = await client.get("junk", TASK_ID, target, NOW)
    assert junk.status == cache.LOOKUP_FAILURE and "holds no outputs" in junk.reason


async def test_a_service_that_is_not_there_is_a_lookup_failure(tmp_path: Path) -> None:
    with cache_service() as gone:
        url = gone.url
    away = cache.CacheClient(url, Settings(), SCHEMES, timeout_seconds=5)
    answer = await away.get("k", TASK_ID, outputs_file(tmp_path), NOW)
    await away.close()
    assert answer.status == cache.LOOKUP_FAILURE and answer.reason.startswith("cache lookup:")


async def test_a_reservation_is_had_kept_and_let_go_by_its_owner_only(client: cache.CacheClient, double: CacheServiceDouble) -> None:
    double.reservations.clear()
    assert await client.reserve("k", TASK_ID, "ns/a", 10) == cache.Reservation(owner="ns/a")
    assert await client.reserve("k", TASK_ID, "ns/b", 10) == cache.Reservation(owner="ns/a")
    assert await client.reserve("k", TASK_ID, "ns/a", 10) == cache.Reservation(owner="ns/a")  # extended
    assert await client.release("k", TASK_ID, "ns/b") == ""  # not the owner's: kept
    assert await client.reserve("k", TASK_ID, "ns/b", 10) == cache.Reservation(owner="ns/a")
    assert await client.release("k", TASK_ID, "ns/a") == ""
    assert await client.reserve("k", TASK_ID, "ns/b", 10) == cache.Reservation(owner="ns/b")
    (first, *_) = double.received(v2.GetOrExtendReservationRequest)
    assert (first.base_request.heartbeat_interval.seconds, first.identifier.project) == (10, "p")
    with double.down():
        refused, release = await client.reserve("k", TASK_ID, "ns/a", 10), await client.release("k", TASK_ID, "ns/b")
    assert refused.owner == "" and "unavailable" in refused.reason and "unavailable" in release


async def test_calls_are_counted_by_outcome(client: cache.CacheClient, double: CacheServiceDouble, tmp_path: Path) -> None:
    def count(call: str, outcome: str) -> float:
        return REGISTRY.get_sample_value("taskaction_cache_calls_total", {"call": call, "outcome": outcome}) or 0.0

    misses, failures = count("get", "miss"), count("put", "put_failure")
    await client.get("counted", TASK_ID, outputs_file(tmp_path), NOW)
    with double.down():
        await client.put("counted", TASK_ID, outputs_file(tmp_path), EXECUTION, NOW)
    assert (count("get", "miss"), count("put", "put_failure")) == (misses + 1, failures + 1)
