"""A ContainerTask's pod, as pods/copilot.py builds it, run with the real flyte-copilot against a real S3 server: the
Flyte SDK's own ContainerTask (sdk_tasks/container.py) serialized; the downloader puts inputs.pb's values in the input
path, the task (plain `sh`) reads them (and one as a template variable) and writes its output file,
the uploader sidecar turns it into outputs.pb once the task has exited (the kubelet stand-in's SIGTERM), and the
operator's check of the pod's success finds it.

flyte-copilot is built from flyteorg/flyte v2.0.43 (the Go module proxy does not serve it; how: docs/flyte-compatibility.md,
"ContainerTask")
and named by TASKACTION_FLYTE_COPILOT; without it the test is skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flyte._internal.runtime.task_serde import translate_task_to_wire
from flyte.models import SerializationContext
from flyteidl2.core import literals_pb2, tasks_pb2
from flyteidl2.task import common_pb2

from taskaction_operator.api.models import TaskAction
from taskaction_operator.pods import templating
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.storage import paths
from taskaction_operator.storage.outputs import OutputCheck, check_outputs
from tests.support.kubelet_standin import DEFAULT_IMAGES, Image, run_pod_locally
from tests.support.seaweedfs import SeaweedFS
from tests.storage.sdk_tasks import container
from tests.unit.builders import container_task, spec, taskaction

COPILOT = os.environ.get("TASKACTION_FLYTE_COPILOT", "")
pytestmark = pytest.mark.skipif(not COPILOT, reason="TASKACTION_FLYTE_COPILOT names no flyte-copilot binary (docs/flyte-compatibility.md, ContainerTask)")
SECRET = "task-s3"


def integer(value: int) -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=value)))


def sdk_container_task() -> tasks_pb2.TaskTemplate:
    context = SerializationContext(project="demo", domain="development", org="local", version="v1", root_dir=Path(container.__file__).parent)
    return translate_task_to_wire(container.square, context).task_template


async def test_inputs_in_outputs_out_through_the_real_copilot(seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    template = sdk_container_task()
    assert (template.type, template.container.data_config.enabled) == ("raw-container", True)
    body = taskaction(spec_=spec(template, runOutputBase=seaweedfs.url("copilot/run1/"), inputUri=seaweedfs.url("copilot/run1/a0/inputs.pb")))
    ta = TaskAction.model_validate(body)
    inputs = common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name="x", value=integer(3))])
    seaweedfs.s3fs().pipe(paths.inputs_file(ta.spec.input_uri), inputs.SerializeToString())
    settings = seaweedfs.settings(pod_storage_endpoint=seaweedfs.endpoint, pod_storage_secret=SECRET)
    pod = build_pod(ta, template, 1, settings, inputs={"x": templating.render_literal(integer(3))})  # as the decision renders it
    images = DEFAULT_IMAGES.with_images(
        {settings.copilot_image: Image(binaries={"/bin/flyte-copilot": COPILOT}), "alpine:": Image(cmd=("sh",))}
    )
    secrets = {SECRET: {"access-key-id": seaweedfs.access_key, "secret-access-key": seaweedfs.secret_key}}
    record = run_pod_locally(pod, tmp_path, secrets=secrets, images=images, timeout=120)
    assert record.phase == "Succeeded", record.report()
    assert record.exit_codes == {"flyte-copilot-uploader": 0, "flyte-copilot-downloader": 0, pod["spec"]["containers"][0]["name"]: 0}
    prefix = paths.action_output_prefix(body["metadata"]["namespace"], body["metadata"]["name"], ta.spec.run_output_base, "a0", 1)
    assert await check_outputs(prefix, settings) == OutputCheck(outputs_found=True)  # no error.pb either
    assert literals_pb2.LiteralMap.FromString(seaweedfs.s3fs().cat(f"{prefix}/outputs.pb")) == literals_pb2.LiteralMap(literals={"o0": integer(9)})


async def test_inputs_that_cannot_be_downloaded_end_in_error_pb(seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    template = container_task(outputs=False)
    body = taskaction(spec_=spec(template, runOutputBase=seaweedfs.url("copilot/run2/"), inputUri=seaweedfs.url("copilot/run2/a0/inputs.pb")))
    ta = TaskAction.model_validate(body)
    settings = seaweedfs.settings(pod_storage_endpoint=seaweedfs.endpoint, pod_storage_secret=SECRET)
    pod = build_pod(ta, template, 1, settings)
    pod["spec"]["containers"][0]["args"] = ["true"]
    images = DEFAULT_IMAGES.with_images({settings.copilot_image: Image(binaries={"/bin/flyte-copilot": COPILOT}), "alpine:": Image(cmd=("sh",))})
    secrets = {SECRET: {"access-key-id": seaweedfs.access_key, "secret-access-key": seaweedfs.secret_key}}
    record = run_pod_locally(pod, tmp_path, secrets=secrets, images=images, timeout=120)
    assert record.phase == "Succeeded", record.report()  # copilot says why in error.pb
    prefix = paths.action_output_prefix(body["metadata"]["namespace"], body["metadata"]["name"], ta.spec.run_output_base, "a0", 1)
    check = await check_outputs(prefix, settings)
    assert check.error is not None and check.error.code == "InputDownloadFailed"
