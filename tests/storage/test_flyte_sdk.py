"""The real Flyte SDK (flyte==2.12.1) end to end through the operator's pod, with a real S3 server.

1. `tests/storage/sdk_tasks/hello.py` is serialized OFFLINE by the client (client/sdk.py) as the SDK does for
   `flyte run` (docs/upstream-contract.md, "The SDK's TaskTemplate and code bundle"): `build_bundle` makes the
   content-addressed `fast<md5>.tar.gz`, which is uploaded to SeaweedFS where the control plane's data proxy would put
   it; the `TaskTemplate` comes from `serialize`, its `CodeBundle` pointing at that upload.
2. `inputs.pb` (flyteidl2.task.Inputs, encoded by the SDK's own converter) goes under the run's input prefix.
3. A TaskAction as the actions service writes it (client.manifests) carries the template; `decisions.validate` and
   `pods.builder.build_pod` give the pod the operator would create.
4. The kubelet stand-in (tests/support/kubelet_standin.py) runs the pod: the container's args with the pod's env,
   as the Flyte image (whose PATH has `a0`) would. What a deployment gives task pods comes through the operator's
   settings, so it is in the pod spec: the store's endpoint and credentials (pod_storage_endpoint, and the Secret
   pod_storage_secret, whose data the stand-in is given) and the control-plane endpoint (default_env_vars
   _U_EP_OVERRIDE, here a loopback port that records whether it is ever contacted: a leaf task must not need it).
5. The outputs must land under the exact sharded prefix the actions service computes, and `check_outputs` must
   read them as the operator will.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flyte
import pytest
from flyteidl2.core import execution_pb2, tasks_pb2
from flyteidl2.task import common_pb2

from taskaction_operator.client import sdk
from taskaction_operator.client.manifests import taskaction
from taskaction_operator.reconcile.task import validate
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.settings import Settings
from taskaction_operator.storage import paths
from taskaction_operator.storage.outputs import check_outputs
from tests.storage.sdk_tasks import hello
from tests.support.kubelet_standin import PodRecord, run_pod_locally
from tests.support.seaweedfs import SeaweedFS

SDK_TASKS = Path(hello.__file__).resolve().parent
NAMESPACE = "flyte"
PROJECT = "flytesnacks"
DOMAIN = "development"
STORAGE_SECRET = "store"
RUN_TIMEOUT_SECONDS = 120


class ConnectionRecorder:
    """A loopback listener standing for the control plane: counts connections, answers nothing."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def control_plane() -> Iterator[ConnectionRecorder]:
    recorder = ConnectionRecorder()
    yield recorder
    recorder.close()


@dataclasses.dataclass
class Serialized:
    templates: dict[str, tasks_pb2.TaskTemplate]
    bundle_uri: str
    version: str


@pytest.fixture(scope="module")
async def serialized(seaweedfs: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Serialized:
    """hello.py -> code bundle in S3 + one TaskTemplate per task, with no control plane."""
    bundle, remote = await uploaded_bundle(seaweedfs, tmp_path_factory.mktemp("bundle"))
    templates = {name: sdk_template(getattr(hello, name), bundle, remote) for name in ("double", "explode", "secret_length")}
    return Serialized(templates, remote, bundle.computed_version)


async def uploaded_bundle(seaweedfs: SeaweedFS, workdir: Path) -> tuple[Any, str]:
    """hello.py's code bundle built by the client (client/sdk.py), uploaded where the data proxy puts uploads; the SDK
    would then put the returned s3:// URL in --tgz. Returns the bundle and that URL."""
    bundle = await sdk.build_bundle(SDK_TASKS, workdir, "loaded_modules")
    local = Path(bundle.tgz)
    remote = sdk.bundle_upload_uri(f"s3://{seaweedfs.bucket}", PROJECT, DOMAIN, bundle.computed_version, local.name)
    seaweedfs.s3fs().put_file(str(local), remote)
    return bundle, remote


def sdk_template(task: Any, bundle: Any, remote: str) -> tasks_pb2.TaskTemplate:
    """The TaskTemplate the client serializes for `task`, its CodeBundle pointing at the upload."""
    return sdk.serialize(task, bundle, remote, project=PROJECT, domain=DOMAIN, root=SDK_TASKS)


async def upload_inputs(seaweedfs: SeaweedFS, input_uri: str, **values: Any) -> None:
    inputs = await sdk.encode_inputs(hello.double, values)
    seaweedfs.s3fs().pipe_file(paths.inputs_file(input_uri), inputs.SerializeToString())


def operator_pod(
    template: tasks_pb2.TaskTemplate, run: str, seaweedfs: SeaweedFS, settings: Settings | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    body = taskaction(template, run=run, namespace=NAMESPACE, project=PROJECT, domain=DOMAIN, storage=f"s3://{seaweedfs.bucket}")
    body["metadata"]["uid"] = str(uuid.uuid4())
    ta, decoded = validate(body)
    return body, build_pod(ta, decoded, 1, settings or Settings())


def pod_settings(seaweedfs: SeaweedFS, control_plane: ConnectionRecorder, **more: Any) -> Settings:
    """What a deployment configures for task pods: the store, and the control-plane endpoint (default_env_vars).
    Without _U_EP_OVERRIDE the SDK would default to host.docker.internal:8090; a loopback recorder keeps everything
    on this machine and tells whether it was dialled."""
    return Settings(
        pod_storage_endpoint=seaweedfs.endpoint,
        pod_storage_secret=STORAGE_SECRET,
        default_env_vars={"_U_EP_OVERRIDE": control_plane.address},
        **more,
    )


def storage_secret(seaweedfs: SeaweedFS) -> dict[str, dict[str, str]]:
    """The Secret pod_storage_secret names, as the API server would hold it."""
    return {STORAGE_SECRET: {"access-key-id": seaweedfs.access_key, "secret-access-key": seaweedfs.secret_key}}


def run_pod(pod: dict[str, Any], workdir: Path, seaweedfs: SeaweedFS, secrets: dict[str, dict[str, str]] | None = None, **options: Any) -> PodRecord:
    secrets = {**storage_secret(seaweedfs), **(secrets or {})}
    return run_pod_locally(pod, workdir, secrets=secrets, timeout=RUN_TIMEOUT_SECONDS, **options)


def expected_prefix(body: dict[str, Any]) -> str:
    spec = body["spec"]
    return paths.action_output_prefix(NAMESPACE, body["metadata"]["name"], spec["runOutputBase"], spec["actionName"], 1)


def test_template_is_the_sdks(serialized: Serialized) -> None:
    template = serialized.templates["double"]
    assert template.type == "python"
    assert template.metadata.runtime.version == flyte.__version__ == "2.12.1"
    assert template.metadata.code_bundle_uri == serialized.bundle_uri
    args = list(template.container.args)
    assert args[0] == "a0" and not template.container.command
    assert args[args.index("--tgz") + 1] == serialized.bundle_uri
    assert args[args.index("--version") + 1] == serialized.version
    assert args[-4:] == ["mod", "hello", "instance", "double"]


def test_pod_of_the_sdk_template(serialized: Serialized, seaweedfs: SeaweedFS) -> None:
    run = f"r{uuid.uuid4().hex[:12]}"
    body, pod = operator_pod(serialized.templates["double"], run, seaweedfs)
    assert base64.b64decode(body["spec"]["taskTemplate"]) == serialized.templates["double"].SerializeToString()
    prefix = expected_prefix(body)
    base = f"s3://{seaweedfs.bucket}/{PROJECT}/{DOMAIN}/{run}"
    assert prefix == f"s3://{seaweedfs.bucket}/{paths.shard(NAMESPACE, f'{run}-a0')}/{PROJECT}/{DOMAIN}/{run}/a0/1"

    container = pod["spec"]["containers"][0]
    args = container["args"]
    flags = {args[i]: args[i + 1] for i in range(1, args.index("--resolver"), 2)}
    assert flags["--inputs"] == f"{base}/inputs/inputs.pb"
    assert flags["--outputs-path"] == prefix
    assert flags["--raw-data-path"] == prefix
    assert flags["--checkpoint-path"] == f"{prefix}/_flytecheckpoints"
    assert flags["--prev-checkpoint"] == '""'
    # Left for the SDK to fill from ACTION_NAME / RUN_NAME, as the Go executor does.
    assert flags["--run-name"] == "{{.runName}}" and flags["--name"] == "{{.actionName}}"
    assert flags["--run-start-time"] == "{{.runStartTime}}"
    assert flags["--tgz"] == serialized.bundle_uri and flags["--dest"] == "."

    env = {v["name"]: v.get("value") for v in container["env"]}
    assert env["ACTION_NAME"] == "a0"
    assert env["RUN_NAME"] == run
    assert env["_U_RUN_BASE"] == f"{base}/"
    assert env["_U_ORG_NAME"] == "local"
    assert env["FLYTE_INTERNAL_EXECUTION_PROJECT"] == PROJECT
    assert env["FLYTE_INTERNAL_EXECUTION_DOMAIN"] == DOMAIN
    assert env["FLYTE_INTERNAL_EXECUTION_ID"] == run
    assert env["FLYTE_ATTEMPT_NUMBER"] == "0"
    assert env["FLYTE_INTERNAL_TASK_NAME"] == "taskaction_sdk_proof.double"
    assert env["FLYTE_INTERNAL_TASK_VERSION"] == serialized.version
    assert container["image"] == "ghcr.io/flyteorg/flyte:py3.11-v2.12.1"


async def test_sdk_task_succeeds_through_the_operator_pod(
    serialized: Serialized, seaweedfs: SeaweedFS, control_plane: ConnectionRecorder, tmp_path: Path
) -> None:
    run = f"r{uuid.uuid4().hex[:12]}"
    body, pod = operator_pod(serialized.templates["double"], run, seaweedfs, pod_settings(seaweedfs, control_plane))
    await upload_inputs(seaweedfs, body["spec"]["inputUri"], x=5)

    record = await asyncio.to_thread(run_pod, pod, tmp_path, seaweedfs)
    assert record.exit_codes == {pod["metadata"]["name"]: 0}, record.report()

    prefix = expected_prefix(body)
    fs = seaweedfs.s3fs()
    assert not fs.exists(f"{prefix}/error.pb")
    outputs = common_pb2.Outputs.FromString(fs.cat_file(f"{prefix}/outputs.pb"))
    assert [(lit.name, lit.value.scalar.primitive.integer) for lit in outputs.literals] == [("o0", 10)]

    settings = seaweedfs.settings()
    check = await check_outputs(prefix, settings)
    assert check.storage_error is None and check.error is None
    assert check.outputs_found is True
    assert control_plane.connections == 0, "a leaf task contacted the control plane"


async def test_sdk_task_exception_is_a_user_error(
    serialized: Serialized, seaweedfs: SeaweedFS, control_plane: ConnectionRecorder, tmp_path: Path
) -> None:
    run = f"r{uuid.uuid4().hex[:12]}"
    body, pod = operator_pod(serialized.templates["explode"], run, seaweedfs, pod_settings(seaweedfs, control_plane))
    await upload_inputs(seaweedfs, body["spec"]["inputUri"], x=5)

    record = await asyncio.to_thread(run_pod, pod, tmp_path, seaweedfs)
    # The SDK reports a user exception in error.pb and exits 0: the pod succeeds, the task does not.
    assert record.exit_codes == {pod["metadata"]["name"]: 0}, record.report()

    prefix = expected_prefix(body)
    fs = seaweedfs.s3fs()
    document = execution_pb2.ErrorDocument.FromString(fs.cat_file(f"{prefix}/error.pb"))
    assert document.error.origin == execution_pb2.ExecutionError.USER
    assert not fs.exists(f"{prefix}/outputs.pb")

    check = await check_outputs(prefix, seaweedfs.settings())
    assert check.storage_error is None and check.outputs_found is False
    assert check.error is not None
    assert check.error.kind == "USER"
    assert check.error.code == document.error.code and "ValueError" in check.error.code + check.error.message
    assert "exploded on 5" in check.error.message
    assert check.recoverable == (document.error.kind == execution_pb2.ContainerError.RECOVERABLE)


async def test_sdk_task_shapes_reach_the_pod_and_the_secret_the_task(
    serialized: Serialized, seaweedfs: SeaweedFS, control_plane: ConnectionRecorder, tmp_path: Path
) -> None:
    """`secrets=`, `Resources(gpu=GPU("A100", 1, "1g.5gb"), shm="auto")` and `interruptible=True` of a TaskEnvironment:
    the pod asks for the GPU partition, mounts shared memory, is interruptible, and the task reads its secret from the
    env var it named (the Secret `creds` the kubelet resolves), with no webhook."""
    run = f"r{uuid.uuid4().hex[:12]}"
    settings = pod_settings(seaweedfs, control_plane, interruptible_node_selector={"pool": "spot"})
    body, pod = operator_pod(serialized.templates["secret_length"], run, seaweedfs, settings)
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [
        {"key": "k8s.amazonaws.com/accelerator", "operator": "In", "values": ["nvidia-tesla-a100"]},
        {"key": "k8s.amazonaws.com/gpu-partition-size", "operator": "In", "values": ["1g.5gb"]},
    ]
    assert pod["metadata"]["labels"]["platform.union.ai/gpu-partition-slices"] == "1"
    assert {"name": "flyte-shm", "emptyDir": {"medium": "Memory", "sizeLimit": "0"}} in spec["volumes"]
    assert spec["nodeSelector"] == {"pool": "spot"}
    await upload_inputs(seaweedfs, body["spec"]["inputUri"], x=2)

    record = await asyncio.to_thread(run_pod, pod, tmp_path, seaweedfs, {"creds": {"api-key": "s3cr3t"}})
    assert record.exit_codes == {pod["metadata"]["name"]: 0}, record.report()
    outputs = common_pb2.Outputs.FromString(seaweedfs.s3fs().cat_file(f"{expected_prefix(body)}/outputs.pb"))
    assert [(lit.name, lit.value.scalar.primitive.integer) for lit in outputs.literals] == [("o0", 12)]
