"""TASKACTION_TRACING_OTLP_ENDPOINT: the real operator exports, over OTLP/HTTP to a receiver here (127.0.0.1), a
span per reconcile of a TaskAction with a child span per Kubernetes API request it made (its pod's create)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, is_true
from tests.support.operator_process import running_operator
from tests.support.waiting import wait_until


class Receiver(ThreadingHTTPServer):
    """An OTLP/HTTP traces endpoint that keeps every span it is sent, as (name, attributes, span id, parent id)."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, str], bytes, bytes]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: a.value.string_value for a in span.attributes}
                    self.server.spans.append((span.name, attributes, span.span_id, span.parent_span_id))
        body = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_reconciles_are_traced_with_their_api_requests(kube: Kube, crd: None, namespace: str, receiver: Receiver, tmp_path: Path) -> None:
    env = {"TASKACTION_TRACING_OTLP_ENDPOINT": receiver.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200", "TASKACTION_READ_OUTPUTS": "false"}
    with running_operator(kube, namespace, tmp_path / "operator.log", env) as operator:
        kube.create(taskaction(container_template("busybox", ["true"]), run="traced", namespace=namespace))
        kube.wait("taskaction", "traced-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")

        def pod_create_in_a_reconcile() -> bool:
            reconciles = {span_id for name, attrs, span_id, _ in receiver.spans
                          if name == "reconcile" and attrs == {"k8s.namespace.name": namespace, "taskaction.name": "traced-a0"}}
            return any(name == "kube create pods" and parent in reconciles for name, _, _, parent in receiver.spans)

        wait_until(pod_create_in_a_reconcile, 30, lambda: f"spans received: {[s[:2] for s in receiver.spans][:40]}\n{operator.log()}")
