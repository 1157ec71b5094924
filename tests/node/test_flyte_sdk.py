"""Real Flyte SDK tasks (tests/storage/sdk_tasks/hello.py), serialized offline the way `taskaction submit -f` does
(client.sdk.prepare_sdk_run: code bundle and inputs.pb uploaded to SeaweedFS), run by the SDK's own `a0` entrypoint
in a container on the real node: the image is the runtime image plus the SDK (e2e/images/flyte-sdk.Containerfile),
put in the template as a TaskEnvironment(image=...) would. The pod fetches its bundle (`--tgz`) and inputs, and writes
outputs.pb or error.pb, over the host network to the S3 server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from flyte._internal.image_cache import ImageCache
from flyteidl2.core import execution_pb2
from flyteidl2.task import common_pb2

from taskaction_operator.api.decoding import encode_task_template
from taskaction_operator.client import sdk
from taskaction_operator.storage import paths
from tests.node.conftest import Images
from tests.support.kube import Kube, condition, is_true
from tests.support.seaweedfs import SeaweedFS

SDK_TASKS = Path(__file__).resolve().parents[1] / "storage" / "sdk_tasks"
HELLO = SDK_TASKS / "hello.py"
FINISH_TIMEOUT = 180  # cold: the SDK image's first container (a large image to unpack) and the SDK's imports


async def submit(kube: Kube, seaweedfs: SeaweedFS, namespace: str, image: str, task_file: Path, task: str, x: int,
                 image_cache: dict[str, str] | None = None) -> tuple[str, dict]:
    """`taskaction submit -f` of `task` with input x, in `image`; `image_cache` (environment name -> image) is
    handed to the task as the Flyte control plane does after building images, so that the children a parent
    enqueues run in them too."""
    prepared = await sdk.prepare_sdk_run(
        task_file, task, {"x": str(x)}, run=sdk.new_run_name(), namespace=namespace, project="flytesnacks",
        domain="development", storage=f"s3://{seaweedfs.bucket}", settings=seaweedfs.settings(),
    )
    template = prepared.template
    template.container.image = image
    if image_cache:
        args = list(template.container.args)
        assert args[0] == "a0", args
        del template.container.args[:]
        template.container.args.extend(["a0", "--image-cache", ImageCache(image_lookup=image_cache).to_transport, *args[1:]])
    body = prepared.body
    body["spec"]["taskTemplate"] = encode_task_template(template)
    kube.create(body)
    return body["metadata"]["name"], body


def output_prefix(body: dict) -> str:
    spec = body["spec"]
    return paths.action_output_prefix(body["metadata"]["namespace"], body["metadata"]["name"], spec["runOutputBase"],
                                      spec["actionName"], 1)


def finished(kube: Kube, name: str, namespace: str, timeout: float = FINISH_TIMEOUT) -> dict:
    return kube.wait("taskaction", name, namespace, lambda o: is_true(o, "Succeeded") or is_true(o, "Failed"), "finished",
                     timeout=timeout)


async def test_an_sdk_task_runs_in_a_container_and_writes_its_outputs(
    kube: Kube, operator, namespace: str, images: Images, seaweedfs: SeaweedFS
) -> None:
    name, body = await submit(kube, seaweedfs, namespace, images.sdk, HELLO, "double", 21)
    ta = finished(kube, name, namespace)
    assert is_true(ta, "Succeeded"), ta["status"]
    pod = kube.get("pod", f"{name}-0", namespace)
    assert pod["spec"]["nodeName"] == "taskaction-node"
    assert pod["spec"]["containers"][0]["image"] == images.sdk
    outputs = common_pb2.Outputs.FromString(seaweedfs.s3fs().cat_file(f"{output_prefix(body)}/outputs.pb"))
    assert [(lit.name, lit.value.scalar.primitive.integer) for lit in outputs.literals] == [("o0", 42)]


async def test_an_sdk_task_that_raises_fails_with_the_user_error_of_error_pb(
    kube: Kube, operator, namespace: str, images: Images, seaweedfs: SeaweedFS
) -> None:
    name, body = await submit(kube, seaweedfs, namespace, images.sdk, HELLO, "explode", 3)
    ta = finished(kube, name, namespace)
    assert is_true(ta, "Failed"), ta["status"]
    # The SDK writes the exception to error.pb and exits 0: the container succeeded, the task did not.
    pod = kube.get("pod", f"{name}-0", namespace)
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    document = execution_pb2.ErrorDocument.FromString(seaweedfs.s3fs().cat_file(f"{output_prefix(body)}/error.pb"))
    assert document.error.origin == execution_pb2.ExecutionError.USER
    error = ta["status"]["errorState"]
    assert error["kind"] == "USER" and error["code"] == document.error.code, error
    assert "exploded on 3" in error["message"], error
    assert condition(ta, "Failed")["reason"] == "PermanentFailure"
