"""Every metric the chart's Grafana dashboard and PrometheusRule query is one metrics.py exports, as the names of
its samples (a counter's _total, a histogram's _bucket / _count / _sum): a renamed metric cannot leave a dashboard
panel or an alert silently empty."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client.metrics import MetricWrapperBase

from taskaction_operator import metrics

CHART = Path(__file__).resolve().parents[2] / "charts" / "taskaction-operator"
DASHBOARD = CHART / "files" / "grafana-dashboard.json"
RULES = CHART / "templates" / "prometheusrule.yaml"
# A metric name of ours or of controller-runtime's, in a PromQL expression.
METRIC = re.compile(r"\b((?:taskaction|workqueue|controller_runtime|leader_election)_[a-z_]+)\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported() -> set[str]:
    names = {"taskaction_active"}  # PhaseCollector's, computed at scrape time
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            names |= {value._name + suffix for suffix in SUFFIXES[value._type]}
    return names


def dashboard_expressions() -> list[str]:
    def walk(panels: list[dict]) -> list[str]:
        found = []
        for panel in panels:
            found += [target["expr"] for target in panel.get("targets", [])]
            found += walk(panel.get("panels", []))
        return found

    dashboard = json.loads(DASHBOARD.read_text())
    variables = [v["definition"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return walk(dashboard["panels"]) + variables


def rule_expressions() -> list[str]:
    # The template's expr: lines and the indented lines that continue them (helm renders it; names do not change).
    text = RULES.read_text()
    return re.findall(r"expr: \|?\n?((?:.*\n)(?:\s{12,}.*\n)*)", text)


def test_the_exported_names_include_controller_runtimes() -> None:
    assert {"workqueue_depth", "workqueue_adds_total", "workqueue_queue_duration_seconds_bucket", "workqueue_work_duration_seconds_bucket",
            "workqueue_retries_total", "workqueue_unfinished_work_seconds", "workqueue_longest_running_processor_seconds",
            "controller_runtime_reconcile_total", "controller_runtime_reconcile_errors_total", "controller_runtime_reconcile_time_seconds_bucket",
            "controller_runtime_active_workers", "controller_runtime_max_concurrent_reconciles", "leader_election_master_status"} <= exported()


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_queried_metric_exists(source: str) -> None:
    expressions = dashboard_expressions() if source == "dashboard" else rule_expressions()
    assert len(expressions) >= (20 if source == "dashboard" else 8), expressions
    queried = {name for expr in expressions for name in METRIC.findall(expr)}
    assert queried, expressions
    assert queried - exported() == set(), f"the {source} queries metrics that metrics.py does not export"
