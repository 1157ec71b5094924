"""`cache=` on a real Flyte SDK task (sdk_tasks/cached.py), submitted twice by `taskaction submit` with the same
inputs, under a cache-service double: the first run's pod runs (the kubelet stand-in runs the SDK's `a0`, which writes
outputs.pb) and is written back; the second hits, runs no pod, and its outputs are the first's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flyteidl2.cacheservice.v2 import cacheservice_pb2 as v2
from flyteidl2.core import catalog_pb2

from taskaction_operator.client.action_io import read_outputs
from taskaction_operator.storage import paths
from tests.storage.sdk_tasks import cached as cached_module
from tests.support.cache_service import CacheServiceDouble
from tests.support.kube import Kube
from tests.support.kubelet_standin import KubeletStandIn
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.seaweedfs import SeaweedFS

from .test_sdk_pipeline import ended_run, run_report, submit_sdk_run

CACHED_FILE = Path(cached_module.__file__)


@pytest.fixture(scope="module")
def operator(kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], seaweedfs: SeaweedFS, cache: CacheServiceDouble,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    env = {**storage_env, "TASKACTION_CACHE_SERVICE_URL": cache.url, "TASKACTION_DEFAULT_ENV_VARS": json.dumps(seaweedfs.flyte_env())}
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator-sdk-cache") / "operator.log", env) as process:
        yield process


def outputs_of(root: dict) -> str:
    meta, spec = root["metadata"], root["spec"]
    return paths.action_output_prefix(meta["namespace"], meta["name"], spec["runOutputBase"], spec["actionName"], 1)


async def test_the_second_run_of_a_cached_sdk_task_hits_the_firsts_entry(
    kube: Kube, namespace: str, operator: OperatorProcess, seaweedfs: SeaweedFS, storage_env: dict[str, str], cache: CacheServiceDouble,
    tmp_path: Path,
) -> None:
    settings = seaweedfs.settings()
    with KubeletStandIn(kube, namespace, tmp_path / "kubelet") as kubelet:
        first = submit_sdk_run(kube, storage_env, seaweedfs, namespace, CACHED_FILE, "square", "x=3")
        root = ended_run(kube, namespace, first, "Succeeded", run_report(kube, namespace, first, kubelet, operator))["a0"]
        assert root["status"]["cacheStatus"] == catalog_pb2.CACHE_POPULATED
        assert kubelet.records_of(f"{first}-a0-0"), "the first run's pod ran"
        assert await read_outputs(outputs_of(root), settings=settings) == {"o0": 9}

        second = submit_sdk_run(kube, storage_env, seaweedfs, namespace, CACHED_FILE, "square", "x=3")
        hit = ended_run(kube, namespace, second, "Succeeded", run_report(kube, namespace, second, kubelet, operator))["a0"]
        assert hit["status"]["cacheStatus"] == catalog_pb2.CACHE_HIT
        assert kube.get("pod", f"{second}-a0-0", namespace) is None
        assert await read_outputs(outputs_of(hit), settings=settings) == {"o0": 9}
    (put,) = cache.received(v2.PutCacheRequest)
    assert put.base_request.output.output_uri == f"{outputs_of(root)}/outputs.pb"
    assert [g.base_request.key for g in cache.received(v2.GetCacheRequest)] == [put.base_request.key] * 2
    assert put.base_request.key.endswith(root["spec"]["cacheKey"]) and root["spec"]["cacheKey"] == hit["spec"]["cacheKey"]
