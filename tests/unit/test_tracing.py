"""tracing.py: off by default (no-op spans); on, a reconcile span with a child per API request, exceptions recorded,
through the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from taskaction_operator import tracing


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use_processor(SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()


def test_off_unless_an_endpoint_is_set() -> None:
    tracing.configure(None)
    with tracing.reconcile_span("flyte", "r-a0") as span, tracing.span("kube get pods") as child:
        assert span is None and child is None


def test_a_reconcile_span_holds_its_api_requests(exported: InMemorySpanExporter) -> None:
    with tracing.reconcile_span("flyte", "r-a0"):
        with tracing.span("kube get pods", **{"k8s.verb": "get", "k8s.resource": "pods"}):
            pass
        with pytest.raises(ValueError), tracing.span("kube patch taskactions/status"):
            raise ValueError("refused")
    child, failed, root = exported.get_finished_spans()
    assert (root.name, dict(root.attributes)) == ("reconcile", {"k8s.namespace.name": "flyte", "taskaction.name": "r-a0"})
    assert root.resource.attributes["service.name"] == "taskaction-operator"
    assert child.parent.span_id == root.context.span_id == failed.parent.span_id
    assert child.attributes["k8s.resource"] == "pods"
    assert failed.status.status_code is StatusCode.ERROR and failed.events[0].name == "exception"
    assert root.status.status_code is StatusCode.UNSET


def test_without_the_sdk_the_setting_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_exporter(name: str, *args, **kwargs):  # noqa: ANN002, ANN003
        if name.startswith("opentelemetry.exporter"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_exporter)
    with pytest.raises(tracing.TracingUnavailable, match=r"pip install 'taskaction-operator\[tracing\]'"):
        tracing.configure("http://127.0.0.1:4318/v1/traces")
