"""What the operator shows about itself while it works: Prometheus metrics that move, health and readiness
endpoints, JSON log lines naming the TaskAction."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, is_true
from tests.support.operator_process import OperatorProcess, running_operator
from tests.support.ports import free_port
from tests.support.waiting import wait_until

COUNT = 5


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {"metrics": free_port(), "health": free_port()}


@pytest.fixture(scope="module")
def operator(
    kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], ports: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator-obs") / "operator.log", {
            **storage_env,
            "TASKACTION_METRICS_PORT": str(ports["metrics"]),
            "TASKACTION_HEALTH_PORT": str(ports["health"]),
            "TASKACTION_LOG_FORMAT": "json",
        }) as process:
        yield process


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, /, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
    except urllib.error.URLError:  # not listening yet
        return 0, {}


def test_metrics_move_during_a_run(kube: Kube, operator, namespace: str, ports: dict[str, int]) -> None:
    wait_until(lambda: get(f"http://127.0.0.1:{ports['health']}/readyz")[0] == 200, 20, "never ready", interval=0.2)
    before = scrape(ports["metrics"])
    template = container_template("busybox", ["true"])
    for i in range(COUNT):
        kube.create(taskaction(template, run=f"obs-{i}", namespace=namespace, labels={"sim.taskaction.dev/outcome": "succeed"}))
    for i in range(COUNT):
        kube.wait("taskaction", f"obs-{i}-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    ctl, queue = {"controller": "taskaction"}, {"name": "taskaction", "controller": "taskaction"}

    def idle() -> dict | None:
        """A scrape once no reconcile is queued or under way: a reconcile's counters move after its status write,
        which the waits above may have seen first."""
        samples = scrape(ports["metrics"])
        busy = value(samples, "workqueue_depth", **queue) or value(samples, "workqueue_unfinished_work_seconds", **queue)
        return None if busy else samples

    after = wait_until(idle, 30, "the operator's work queue never went idle")
    grew = lambda name, /, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
    assert grew("taskaction_pod_creations_total", outcome="created") == COUNT
    assert grew("taskaction_reconciles_total", outcome="ok") >= 3 * COUNT  # create, running, succeeded at least
    assert grew("taskaction_reconcile_duration_seconds_count", outcome="ok") >= 3 * COUNT
    assert grew("taskaction_api_requests_total", verb="create", resource="pods", status="201") == COUNT
    assert grew("taskaction_api_request_duration_seconds_count", verb="patch", resource="taskactions/status") >= 3 * COUNT
    assert value(after, "taskaction_active", phase="PhaseSuccess") >= COUNT
    assert value(after, "taskaction_object_size_bytes_count") > 0
    assert ("taskaction_queue_depth", ()) in after and ("taskaction_reconciles_in_flight", ()) in after
    # controller-runtime's names beside ours, for the dashboards made for Go operators.
    reconciled = sum(grew("controller_runtime_reconcile_total", **ctl, result=r) for r in ("success", "requeue_after", "error"))
    assert reconciled == grew("controller_runtime_reconcile_time_seconds_count", **ctl) >= 3 * COUNT
    assert grew("controller_runtime_reconcile_total", **ctl, result="error") == grew("controller_runtime_reconcile_errors_total", **ctl)
    assert value(after, "controller_runtime_max_concurrent_reconciles", **ctl) == 64
    assert ("controller_runtime_active_workers", tuple(sorted(ctl.items()))) in after
    assert grew("workqueue_adds_total", **queue) >= 3 * COUNT and grew("workqueue_work_duration_seconds_count", **queue) >= 3 * COUNT
    assert grew("workqueue_queue_duration_seconds_count", **queue) >= 3 * COUNT
    for gauge in ("workqueue_depth", "workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds"):
        assert (gauge, tuple(sorted(queue.items()))) in after, gauge
    assert ("workqueue_retries_total", tuple(sorted(queue.items()))) in after


def test_health_and_readiness(operator, ports: dict[str, int]) -> None:
    assert get(f"http://127.0.0.1:{ports['health']}/healthz") == (200, {"alive": True})
    assert get(f"http://127.0.0.1:{ports['health']}/readyz") == (200, {"ready": True})


def test_json_log_lines_name_the_taskaction(kube: Kube, operator: OperatorProcess, namespace: str) -> None:
    bad = taskaction(container_template("busybox", ["true"], env={"not a valid=name": "x"}), run="obs-bad", namespace=namespace)
    kube.create(bad)
    kube.wait("taskaction", "obs-bad-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    lines = [json.loads(line) for line in operator.log_path.read_text().splitlines() if line.startswith("{")]
    assert lines, "no JSON log lines"
    about = [line for line in lines if line.get("name") == "obs-bad-a0"]
    assert about and all(line["namespace"] == namespace for line in about)
    assert any("could not be created" in line["message"] for line in about)
