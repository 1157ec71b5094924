"""The garbage collector deletes finished TaskActions past the TTL, page by page, and leaves running ones alone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from taskaction_operator.client.manifests import container_template, taskaction
from taskaction_operator.controller.gc import sweep
from taskaction_operator.kube import connect
from tests.support.kube import Kube, progressing_reason
from tests.support.operator_process import OperatorProcess, running_operator


@pytest.fixture(scope="module")
def operator(
    kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """TTL 0, a sweep every 2 s, pages of 2: five finished actions need three pages."""
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator-gc") / "operator.log", {**storage_env, "TASKACTION_GC_INTERVAL_SECONDS": "2", "TASKACTION_GC_TTL_SECONDS": "0", "TASKACTION_GC_PAGE_SIZE": "2"}) as process:
        yield process


def test_finished_actions_are_collected_and_running_ones_kept(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    template = container_template("busybox", ["true"])
    kube.create(taskaction(template, run="keep", namespace=namespace, labels={"sim.taskaction.dev/outcome": "running"}))
    for i in range(5):
        kube.create(taskaction(template, run=f"done-{i}", namespace=namespace, labels={"sim.taskaction.dev/outcome": "succeed"}))
    for i in range(5):
        kube.wait("taskaction", f"done-{i}-a0", namespace, lambda o: o is None, "garbage-collected", timeout=60)
        kube.wait("pod", f"done-{i}-a0-0", namespace, lambda o: o is None, "deleted with its action", timeout=60)
    kept = kube.get("taskaction", "keep-a0", namespace)
    assert kept is not None and progressing_reason(kept) == "Executing"


async def test_one_sweep_pages_through_every_expired_action(kube: Kube, crd: None) -> None:
    """Five expired actions, pages of two: a single sweep against the real API server deletes all five."""
    namespace = f"gc-pages-{datetime.now(UTC).strftime('%H%M%S%f')}"
    kube.run("create", "namespace", namespace)
    try:
        for i in range(5):
            body = taskaction(container_template("busybox", ["true"]), run=f"old-{i}", namespace=namespace)
            body["metadata"]["labels"].update({"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2020-01-01.00-00"})
            kube.create(body)
        fresh = taskaction(container_template("busybox", ["true"]), run="fresh", namespace=namespace)
        fresh["metadata"]["labels"].update({"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2999-01-01.00-00"})
        kube.create(fresh)
        api = await connect(kube.kubeconfig)
        try:
            counts = await sweep(api, [namespace], 3600, 2, datetime.now(UTC))
        finally:
            await api.close()
        assert counts == {"deleted": 5, "already_gone": 0, "failed": 0}
        assert [t["metadata"]["name"] for t in kube.list("taskactions", namespace)] == ["fresh-a0"]
    finally:
        kube.run("delete", "namespace", namespace, "--wait=false")
