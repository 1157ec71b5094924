"""The operator's storage reads on the real control plane against a real S3 server: on pod success error.pb first,
at the exact sharded prefix the Flyte actions service computes (a Flyte SDK task exits 0 after a user exception);
before a raw container's pod, inputs.pb for its {{.Inputs.x}} variables."""

from __future__ import annotations

from flyteidl2.core import execution_pb2, literals_pb2
from flyteidl2.task import common_pb2

from taskaction_operator.client.manifests import container_template, taskaction
from taskaction_operator.storage import paths
from tests.support.kube import Kube, condition, is_true
from tests.support.seaweedfs import SeaweedFS

SLOW_SUCCESS = ({"sim.taskaction.dev/outcome": "succeed"}, {"sim.taskaction.dev/delay": "3s"})


def own_storage(seaweedfs: SeaweedFS, namespace: str) -> str:
    """Where this module's actions keep their data: under its namespace, which no other run shares."""
    return f"s3://{seaweedfs.bucket}/{namespace}"


def ended(obj: dict | None) -> bool:
    return is_true(obj, "Succeeded") or is_true(obj, "Failed")


def prefix_of(body: dict) -> str:
    meta, spec = body["metadata"], body["spec"]
    return paths.action_output_prefix(meta["namespace"], meta["name"], spec["runOutputBase"], spec["actionName"], 1)


def test_error_file_of_a_succeeded_pod_fails_the_action(kube: Kube, operator, namespace: str, seaweedfs: SeaweedFS) -> None:
    labels, annotations = SLOW_SUCCESS
    body = taskaction(
        container_template("busybox", ["true"]), run="run-errpb", namespace=namespace, storage=own_storage(seaweedfs, namespace), labels=labels,
        annotations=annotations,
    )
    document = execution_pb2.ErrorDocument(
        error=execution_pb2.ContainerError(
            code="ValueError", message="exploded on 5", kind=execution_pb2.ContainerError.NON_RECOVERABLE,
            origin=execution_pb2.ExecutionError.USER,
        )
    )
    seaweedfs.s3fs().pipe(f"{prefix_of(body)}/error.pb", document.SerializeToString())
    kube.create(body)
    ta = kube.wait("taskaction", "run-errpb-a0", namespace, ended, "ended")
    assert is_true(ta, "Failed"), ta["status"]
    assert kube.get("pod", "run-errpb-a0-0", namespace)["status"]["phase"] == "Succeeded"
    assert ta["status"]["errorState"] == {"code": "ValueError", "kind": "USER", "message": "exploded on 5"}
    assert condition(ta, "Failed")["reason"] == "PermanentFailure"


def test_outputs_file_of_a_succeeded_pod_makes_it_succeeded(kube: Kube, operator, namespace: str, seaweedfs: SeaweedFS) -> None:
    labels, annotations = SLOW_SUCCESS
    body = taskaction(
        container_template("busybox", ["true"]), run="run-outpb", namespace=namespace, storage=own_storage(seaweedfs, namespace), labels=labels,
        annotations=annotations,
    )
    seaweedfs.s3fs().pipe(f"{prefix_of(body)}/outputs.pb", b"")
    kube.create(body)
    ta = kube.wait("taskaction", "run-outpb-a0", namespace, ended, "ended")
    assert is_true(ta, "Succeeded") and "errorState" not in ta["status"], ta["status"]


def test_input_variables_are_rendered_from_inputs_pb(kube: Kube, operator, namespace: str, seaweedfs: SeaweedFS) -> None:
    template = container_template("busybox", ["echo", "{{.Inputs.n}}", "{{ .Inputs.who }}"])
    body = taskaction(template, run="run-inputs", namespace=namespace, storage=own_storage(seaweedfs, namespace))
    primitive = lambda **v: literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(**v)))  # noqa: E731
    inputs = common_pb2.Inputs(
        literals=[common_pb2.NamedLiteral(name="n", value=primitive(integer=5)), common_pb2.NamedLiteral(name="who", value=primitive(string_value="ada"))]
    )
    seaweedfs.s3fs().pipe(paths.inputs_file(body["spec"]["inputUri"]), inputs.SerializeToString())
    kube.create(body)
    pod = kube.wait("pod", "run-inputs-a0-0", namespace, lambda o: o is not None, "created")
    assert pod["spec"]["containers"][0]["args"] == ["echo", "5", "ada"]
