"""ContainerTask's CoPilot against the real flyte-copilot: a reproducible check, not a test tier (the binary is built
from flyteorg/flyte v2.0.43, which the Go module proxy does not serve, and a skipped test fails `make test`).

    python3 e2e/copilot_check.py --copilot PATH/flyte-copilot      (how to build it: docs/flyte-compatibility.md,
                                                                     "ContainerTask")

With SeaweedFS on loopback, each scenario builds the pod the operator builds (pods/builder.py, pods/copilot.py) and
runs it with the kubelet stand-in (tests/support/kubelet_standin.py: the uploader as a native sidecar, SIGTERM once
the task exited), the image `/bin/flyte-copilot` being the binary given:
1. the Flyte SDK's own ContainerTask (tests/storage/sdk_tasks/container.py), its `{{.inputs.x}}` rendered as the
   decision renders it: the downloader writes x=3 in the input path, `sh` writes 9 to the output path, the uploader
   makes outputs.pb, which the operator's success check finds, without error.pb;
2. inputs.pb missing: the downloader's error reaches error.pb (InputDownloadFailed), where the operator reads it.
Prints one line per scenario; exit status 1 when one fails. About 15 seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "operator"))

from flyte._internal.runtime.task_serde import translate_task_to_wire  # noqa: E402
from flyte.models import SerializationContext  # noqa: E402
from flyteidl2.core import literals_pb2, tasks_pb2  # noqa: E402
from flyteidl2.task import common_pb2  # noqa: E402

from taskaction_operator.api.models import TaskAction  # noqa: E402
from taskaction_operator.pods import templating  # noqa: E402
from taskaction_operator.pods.builder import build_pod  # noqa: E402
from taskaction_operator.storage import paths  # noqa: E402
from taskaction_operator.storage.objects import read_object, write_object  # noqa: E402
from taskaction_operator.storage.outputs import OutputCheck, check_outputs  # noqa: E402
from tests.storage.sdk_tasks import container  # noqa: E402
from tests.support.kubelet_standin import DEFAULT_IMAGES, Image, PodRecord, run_pod_locally  # noqa: E402
from tests.support.seaweedfs import SeaweedFS, running_seaweedfs  # noqa: E402
from tests.unit.builders import container_task, spec, taskaction  # noqa: E402

SECRET = "task-s3"


def integer(value: int) -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=value)))


def sdk_container_task() -> tasks_pb2.TaskTemplate:
    context = SerializationContext(project="demo", domain="development", org="local", version="v1", root_dir=Path(container.__file__).parent)
    return translate_task_to_wire(container.square, context).task_template


async def run(seaweedfs: SeaweedFS, copilot: str, workdir: Path, template: tasks_pb2.TaskTemplate, run_name: str, inputs: common_pb2.Inputs | None,
              rendered: dict[str, str] | None = None) -> tuple[PodRecord, OutputCheck, str]:
    """The pod of `template` run to its end; what the operator's check finds under its output prefix; that prefix."""
    body = taskaction(spec_=spec(template, runOutputBase=seaweedfs.url(f"copilot/{run_name}/"), inputUri=seaweedfs.url(f"copilot/{run_name}/a0/inputs.pb")))
    ta = TaskAction.model_validate(body)
    settings = seaweedfs.settings(pod_storage_endpoint=seaweedfs.endpoint, pod_storage_secret=SECRET)
    if inputs is not None:
        uri = paths.inputs_file(ta.spec.input_uri or "")
        await write_object(uri, inputs.SerializeToString(), settings)
    pod = build_pod(ta, template, 1, settings, inputs=rendered)
    images = DEFAULT_IMAGES.with_images({settings.copilot_image: Image(binaries={"/bin/flyte-copilot": copilot}), "alpine:": Image(cmd=("sh",))})
    secrets = {SECRET: {"access-key-id": seaweedfs.access_key, "secret-access-key": seaweedfs.secret_key}}
    record = run_pod_locally(pod, workdir, secrets=secrets, images=images, timeout=120)
    prefix = paths.action_output_prefix(body["metadata"]["namespace"], body["metadata"]["name"], ta.spec.run_output_base or "", "a0", 1)
    return record, await check_outputs(prefix, settings), prefix


async def inputs_in_outputs_out(seaweedfs: SeaweedFS, copilot: str, workdir: Path) -> str:
    template = sdk_container_task()
    assert (template.type, template.container.data_config.enabled) == ("raw-container", True), template
    inputs = common_pb2.Inputs(literals=[common_pb2.NamedLiteral(name="x", value=integer(3))])
    record, check, prefix = await run(seaweedfs, copilot, workdir, template, "run1", inputs, {"x": templating.render_literal(integer(3))})
    assert record.phase == "Succeeded", record.report()
    assert set(record.exit_codes.values()) == {0}, record.exit_codes
    assert check == OutputCheck(outputs_found=True), check
    uri = f"{prefix}/outputs.pb"
    outputs = literals_pb2.LiteralMap.FromString(await read_object(uri, seaweedfs.settings()))
    assert outputs == literals_pb2.LiteralMap(literals={"o0": integer(9)}), outputs
    return f"pod {record.phase}, exit codes {record.exit_codes}; {prefix}/outputs.pb: o0=9, no error.pb"


async def missing_inputs_end_in_error_pb(seaweedfs: SeaweedFS, copilot: str, workdir: Path) -> str:
    template = container_task(outputs=False)
    template.container.ClearField("args")
    template.container.command[:] = ["true"]
    record, check, prefix = await run(seaweedfs, copilot, workdir, template, "run2", None)
    assert record.phase == "Succeeded", record.report()
    assert check.error is not None and check.error.code == "InputDownloadFailed" and check.recoverable, check
    return f"pod {record.phase}; {prefix}/error.pb: [{check.error.code}] {check.error.message[:90]}..."


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copilot", required=True, help="a flyte-copilot binary built from flyteorg/flyte v2.0.43")
    copilot = str(Path(parser.parse_args().copilot).resolve())
    failed = False
    with tempfile.TemporaryDirectory(prefix="copilot-check-") as scratch, running_seaweedfs(Path(scratch) / "seaweedfs") as seaweedfs:
        for scenario in (inputs_in_outputs_out, missing_inputs_end_in_error_pb):
            try:
                print(f"PASS {scenario.__name__}: {await scenario(seaweedfs, copilot, Path(scratch) / scenario.__name__)}")
            except AssertionError as exc:
                failed = True
                print(f"FAIL {scenario.__name__}: {exc}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
