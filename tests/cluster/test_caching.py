"""The task cache on the real control plane, with a cache-service double (flyteidl2's CacheService over Connect) and
an events-service double: a first run misses, runs its pod and writes back under upstream's key; a second run of the
same task on the same inputs hits, runs no pod, finds the outputs where its own belong and reports CACHE_HIT; with
the cache service down a task still runs; of two runs of a serializable task at once, one runs its pod and the other
waits for its entry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flyteidl2.cacheservice.v2 import cacheservice_pb2 as v2
from flyteidl2.common import phase_pb2
from flyteidl2.core import catalog_pb2, interface_pb2, literals_pb2, tasks_pb2, types_pb2
from flyteidl2.task import common_pb2

from taskaction_operator.catalog.keys import cache_key
from taskaction_operator.client.manifests import container_template, taskaction
from taskaction_operator.storage import paths
from tests.support.cache_service import CacheServiceDouble
from tests.support.events_service import EventsServiceDouble, events_service
from tests.support.kube import Kube, is_true
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.seaweedfs import SeaweedFS
from tests.support.waiting import wait_until

from .test_action_events import DELAY, OUTCOME, finished

VERSION = "v1"
INPUTS = {"x": literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=3)))}
OUTPUTS = literals_pb2.LiteralMap(literals={"o0": literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=9)))})


@pytest.fixture(scope="module")
def events() -> Iterator[EventsServiceDouble]:
    with events_service() as service:
        yield service


@pytest.fixture(scope="module")
def operator(kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], cache: CacheServiceDouble, events: EventsServiceDouble,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    env = {**storage_env, "TASKACTION_CACHE_SERVICE_URL": cache.url, "TASKACTION_EVENTS_SERVICE_URL": events.url}
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator-cache") / "operator.log", env) as process:
        yield process


def cached_task(name: str) -> tasks_pb2.TaskTemplate:
    """A task with `cache=`: discoverable, one integer in, one out."""
    template = container_template("busybox", ["true"], name=name)
    template.metadata.discoverable = True
    integer = interface_pb2.Variable(type=types_pb2.LiteralType(simple=types_pb2.INTEGER))
    template.interface.inputs.variables.add(key="x", value=integer)
    template.interface.outputs.variables.add(key="o0", value=integer)
    return template


def submit(kube: Kube, seaweedfs: SeaweedFS, template: tasks_pb2.TaskTemplate, run: str, namespace: str, runs_for: str = "0s") -> dict[str, Any]:
    """The run with its inputs.pb in place, its pod made to succeed after `runs_for`; what the pod would write is not
    written."""
    body = taskaction(template, run=run, namespace=namespace, labels={OUTCOME: "succeed"}, annotations={DELAY: runs_for})
    body["spec"]["cacheKey"] = VERSION
    inputs = common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name=k, value=v) for k, v in INPUTS.items()])
    seaweedfs.s3fs().pipe(paths.inputs_file(body["spec"]["inputUri"]), inputs.SerializeToString())
    kube.create(body)
    return body


def outputs_uri(body: dict[str, Any]) -> str:
    meta, spec = body["metadata"], body["spec"]
    return f"{paths.action_output_prefix(meta['namespace'], meta['name'], spec['runOutputBase'], spec['actionName'], 1)}/outputs.pb"


def test_a_miss_runs_the_pod_and_writes_back_then_the_same_task_hits_with_no_pod(
    kube: Kube, operator: OperatorProcess, namespace: str, seaweedfs: SeaweedFS, cache: CacheServiceDouble, events: EventsServiceDouble
) -> None:
    template = cached_task("cached.square")
    key = cache_key(template, INPUTS, VERSION)
    first = taskaction(template, run="cache-one", namespace=namespace)
    seaweedfs.s3fs().pipe(outputs_uri(first), OUTPUTS.SerializeToString())  # what the pod writes
    submit(kube, seaweedfs, template, "cache-one", namespace)
    ta = finished(kube, "cache-one", namespace, "Succeeded")
    assert kube.get("pod", "cache-one-a0-0", namespace) is not None
    assert ta["status"]["cacheStatus"] == catalog_pb2.CACHE_POPULATED
    assert [r.base_request.key for r in cache.received(v2.GetCacheRequest)] == [key]
    (put,) = cache.received(v2.PutCacheRequest)
    assert (put.base_request.key, put.base_request.output.output_uri) == (key, outputs_uri(first))
    assert put.base_request.output.metadata.key_map.values["execution-name"] == "cache-one"
    assert events.stored("cache-one")[-1].cache_status == catalog_pb2.CACHE_POPULATED

    second = submit(kube, seaweedfs, template, "cache-two", namespace)
    ta = finished(kube, "cache-two", namespace, "Succeeded")
    assert kube.get("pod", "cache-two-a0-0", namespace) is None  # and none will come: the action is over
    assert ta["status"]["cacheStatus"] == catalog_pb2.CACHE_HIT
    assert [h["phase"] for h in ta["status"]["phaseHistory"]] == ["Completed"]
    assert literals_pb2.LiteralMap.FromString(seaweedfs.s3fs().cat(outputs_uri(second))) == OUTPUTS
    (event,) = events.stored("cache-two")
    assert (event.phase, event.cache_status, event.outputs.output_uri) == (phase_pb2.ACTION_PHASE_SUCCEEDED, catalog_pb2.CACHE_HIT, outputs_uri(second))
    assert len(cache.received(v2.PutCacheRequest)) == 1  # a hit is not written back


def test_with_the_cache_service_down_the_task_runs_uncached(
    kube: Kube, operator: OperatorProcess, namespace: str, seaweedfs: SeaweedFS, cache: CacheServiceDouble
) -> None:
    template = cached_task("cached.down")
    body = taskaction(template, run="cache-down", namespace=namespace)
    seaweedfs.s3fs().pipe(outputs_uri(body), OUTPUTS.SerializeToString())
    with cache.down():
        submit(kube, seaweedfs, template, "cache-down", namespace)
        ta = kube.wait("taskaction", "cache-down-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    assert kube.get("pod", "cache-down-a0-0", namespace) is not None
    assert ta["status"]["cacheStatus"] == catalog_pb2.CACHE_PUT_FAILURE

    def warned() -> bool:
        events = kube.list("events", namespace)
        reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "cache-down-a0" and e["type"] == "Warning"}
        return {"CacheLookupFailed", "CachePutFailed"} <= reasons

    wait_until(warned, 10, "no Warning Events CacheLookupFailed and CachePutFailed")  # posted in the background


def test_of_two_runs_of_a_serializable_task_one_runs_and_the_other_waits_for_its_entry(
    kube: Kube, operator: OperatorProcess, namespace: str, seaweedfs: SeaweedFS, cache: CacheServiceDouble
) -> None:
    template = cached_task("cached.serial")
    template.metadata.cache_serializable = True
    first = taskaction(template, run="cache-ser1", namespace=namespace)
    seaweedfs.s3fs().pipe(outputs_uri(first), OUTPUTS.SerializeToString())
    submit(kube, seaweedfs, template, "cache-ser1", namespace, runs_for="6s")
    kube.wait("pod", "cache-ser1-a0-0", namespace, lambda o: o is not None, "created")
    submit(kube, seaweedfs, template, "cache-ser2", namespace)
    waiting = kube.wait("taskaction", "cache-ser2-a0", namespace, lambda o: (o or {}).get("status", {}).get("pluginPhase") == "PhaseWaitingForCache", "waiting")
    assert 'reservation owner "' + f'{namespace}/cache-ser1-a0"' in waiting["status"]["conditions"][0]["message"]
    assert finished(kube, "cache-ser1", namespace, "Succeeded")["status"]["cacheStatus"] == catalog_pb2.CACHE_POPULATED
    second = finished(kube, "cache-ser2", namespace, "Succeeded")
    assert second["status"]["cacheStatus"] == catalog_pb2.CACHE_HIT
    assert kube.get("pod", "cache-ser2-a0-0", namespace) is None
    released = [r.base_request.owner_id for r in cache.received(v2.ReleaseReservationRequest)]
    assert released == [f"{namespace}/cache-ser1-a0"] and cache.reservations == {}
