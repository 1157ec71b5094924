"""Fixtures of the cluster tier (the cluster and the CRD come from tests/conftest.py): a fresh namespace per module,
a real S3 server, the operator running as a process against them, and a Flyte cache service double."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.cache_service import CacheServiceDouble, cache_service
from tests.support.kube import Kube
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.seaweedfs import SeaweedFS, seaweedfs_fixture


@pytest.fixture(scope="module")
def namespace(kube: Kube) -> Iterator[str]:
    name = f"ta-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    kube.wait("serviceaccount", "default", name, lambda sa: sa is not None, "created by kube-controller-manager")
    yield name
    kube.run("delete", "namespace", name, "--wait=false")


seaweedfs = seaweedfs_fixture(scope="session")


@pytest.fixture(scope="session")
def storage_env(seaweedfs: SeaweedFS) -> dict[str, str]:
    """The operator reads error.pb / outputs.pb of succeeded pods from a real S3 server, as in production."""
    return {
        "TASKACTION_STORAGE_ENDPOINT": seaweedfs.endpoint,
        "TASKACTION_STORAGE_ACCESS_KEY_ID": seaweedfs.access_key,
        "TASKACTION_STORAGE_SECRET_ACCESS_KEY": seaweedfs.secret_key,
    }


@pytest.fixture(scope="module")
def cache() -> Iterator[CacheServiceDouble]:
    """A Flyte cache service double for the modules whose operator caches (TASKACTION_CACHE_SERVICE_URL=cache.url)."""
    with cache_service() as service:
        yield service


@pytest.fixture(scope="module")
def operator(
    kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator") / "operator.log", storage_env) as process:
        yield process


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Attach the operator's log to a failing cluster test."""
    outcome = yield
    report = outcome.get_result()
    process = item.funcargs.get("operator") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(process, OperatorProcess):
        report.sections.append(("operator log", process.log()))

