"""Optional OpenTelemetry tracing: a span per reconcile of a TaskAction, with a child span per Kubernetes API request
made for it. Off unless TASKACTION_TRACING_OTLP_ENDPOINT is set; then the OpenTelemetry SDK (`pip install
'taskaction-operator[tracing]'`, imported only then) exports them over OTLP/HTTP. Off, every call here is a no-op
that imports nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

SERVICE_NAME = "taskaction-operator"
_tracer: Any = None  # an opentelemetry Tracer once configured; None: tracing is off
_provider: Any = None


class TracingUnavailable(RuntimeError):
    pass


def configure(endpoint: str | None) -> None:
    """Export spans to the OTLP/HTTP traces endpoint (e.g. http://otel-collector:4318/v1/traces); None: off."""
    if not endpoint:
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TracingUnavailable(
            f"TASKACTION_TRACING_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed ({exc}): "
            "pip install 'taskaction-operator[tracing]'"
        ) from exc
    use_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))


def use_processor(processor: Any) -> None:
    """Trace into this span processor (the OTLP exporter's, or a test's in-memory one)."""
    global _tracer, _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    _provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    _provider.add_span_processor(processor)
    _tracer = _provider.get_tracer(__name__)


def shutdown() -> None:
    """Flush what is buffered and turn tracing off."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


@contextlib.contextmanager
def span(name: str, **attributes: str | int) -> Iterator[Any]:
    """A span, the current one's child; an exception leaving it is recorded on it. Without tracing: nothing."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


def reconcile_span(namespace: str, name: str) -> contextlib.AbstractContextManager[Any]:
    return span("reconcile", **{"k8s.namespace.name": namespace, "taskaction.name": name})
