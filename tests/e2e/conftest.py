"""Fixtures of the e2e tier: the chart rendered and installed with helm on the real local control plane (or the
cluster KUBECONFIG names), the operator run with the chart's ServiceAccount token. No cluster is a failure, never a
skip."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.helm import Helm, install_helm
from tests.support.kube import Kube

@pytest.fixture(scope="session")
def helm_bin() -> str:
    return install_helm()


@pytest.fixture(scope="session")
def helm(helm_bin: str, kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(helm_bin, kube.kubeconfig, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture
def new_namespace(kube: Kube) -> Iterator[Callable[..., str]]:
    """Fresh namespaces, deleted after the test: new_namespace(prefix, **labels)."""
    made: list[str] = []

    def make(prefix: str = "e2e", **labels: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        kube.run("create", "namespace", name)
        if labels:
            kube.run("label", "namespace", name, *[f"{k}={v}" for k, v in labels.items()])
        made.append(name)
        return name

    yield make
    for name in made:
        kube.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.fixture
def releases(helm: Helm) -> Iterator[list[tuple[str, str]]]:
    """(release, namespace) pairs a test installs: uninstalled afterwards whatever happened, so that no cluster-scoped
    ClusterRole or binding outlives a failed test (namespace deletion only takes the namespaced objects)."""
    installed: list[tuple[str, str]] = []
    yield installed
    for release, namespace in installed:
        helm.run("uninstall", release, "--namespace", namespace, "--ignore-not-found", "--timeout", "60s", check=False)

