"""`taskaction submit -f pipeline.py --task pipeline -i x=5` up to the TaskAction, against a real S3 server.

`client.sdk.prepare_sdk_run` (what the CLI calls before it creates the root) builds the code bundle of
`sdk_tasks/pipeline.py` with the real Flyte SDK offline, uploads it where the data proxy would put it, serializes the
TaskTemplate pointing at it, writes `inputs.pb` under the root's inputUri, and returns the root TaskAction; here it is
checked against the objects in SeaweedFS and against the pod the operator would build from it. No cluster: the
cluster acceptance test creates the TaskAction and runs it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import uuid
from pathlib import Path

import pytest
from flyteidl2.task import common_pb2

from taskaction_operator.client import errors, sdk
from taskaction_operator.reconcile.task import validate
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.settings import Settings
from tests.support.seaweedfs import SeaweedFS

PIPELINE = Path(__file__).resolve().parent / "sdk_tasks" / "pipeline.py"
NAMESPACE = "flyte"
PROJECT = "flytesnacks"
DOMAIN = "development"


async def prepare(seaweedfs: SeaweedFS, run: str, raw_inputs: dict[str, str], *, task: str = "pipeline", **kwargs) -> sdk.PreparedRun:
    return await sdk.prepare_sdk_run(
        PIPELINE, task, raw_inputs, run=run, namespace=NAMESPACE, project=PROJECT, domain=DOMAIN,
        storage=f"s3://{seaweedfs.bucket}", settings=kwargs.pop("settings", None) or seaweedfs.settings(), **kwargs,
    )


@pytest.fixture(scope="module")
async def prepared(seaweedfs: SeaweedFS) -> sdk.PreparedRun:
    return await prepare(
        seaweedfs, sdk.new_run_name(), {"x": "5"},
        labels={"team": "ml", "flyte.org/run": "not-this"}, annotations={"owner": "ada"}, env_vars={"LOG_LEVEL": "debug"},
    )


def test_the_bundle_is_uploaded_where_the_data_proxy_puts_it(prepared: sdk.PreparedRun, seaweedfs: SeaweedFS) -> None:
    version = prepared.version
    prefix = f"s3://{seaweedfs.bucket}/uploads/{PROJECT}/{DOMAIN}/{version}/"
    assert prepared.bundle_uri.startswith(prefix)
    filename = prepared.bundle_uri.removeprefix(prefix)
    assert filename.startswith("fast") and filename.endswith(".tar.gz")

    data = seaweedfs.s3fs().cat_file(prepared.bundle_uri)
    assert hashlib.md5(data).hexdigest() == version  # content-addressed: the version is the archive's md5
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        assert "pipeline.py" in archive.getnames()
        assert archive.extractfile("pipeline.py").read() == PIPELINE.read_bytes()


def test_the_template_is_the_sdks_pointing_at_the_upload(prepared: sdk.PreparedRun) -> None:
    template = prepared.template
    assert template.type == "python"
    assert (template.id.project, template.id.domain, template.id.org) == (PROJECT, DOMAIN, "local")
    assert (template.id.name, template.id.version) == ("pipeline.pipeline", prepared.version)
    assert template.metadata.code_bundle_uri == prepared.bundle_uri
    args = list(template.container.args)
    assert args[0] == "a0" and not template.container.command
    assert args[args.index("--tgz") + 1] == prepared.bundle_uri
    assert args[args.index("--version") + 1] == prepared.version
    assert args[args.index("--resolver"):] == [
        "--resolver", "flyte._internal.resolvers.default.DefaultTaskResolver", "mod", "pipeline", "instance", "pipeline"
    ]


def test_the_root_taskaction_is_the_actions_services(prepared: sdk.PreparedRun, seaweedfs: SeaweedFS) -> None:
    body = prepared.body
    run = body["spec"]["runName"]
    meta, spec = body["metadata"], body["spec"]
    assert (meta["name"], meta["namespace"]) == (f"{run}-a0", NAMESPACE)
    assert meta["labels"] == {
        "flyte.org/project": PROJECT, "flyte.org/domain": DOMAIN, "flyte.org/run": run, "flyte.org/action": "a0",
        "flyte.org/action-type": "task", "flyte.org/is-root": "true", "team": "ml",
    }
    assert meta["annotations"] == {"owner": "ada"}
    base = f"s3://{seaweedfs.bucket}/{PROJECT}/{DOMAIN}/{run}"
    assert spec["inputUri"] == f"{base}/inputs"
    assert spec["runOutputBase"] == f"{base}/"
    assert (spec["actionName"], spec["taskType"], spec["shortName"]) == ("a0", "python", "pipeline.pipeline")
    assert spec["envVars"] == {"LOG_LEVEL": "debug"}
    assert "parentActionName" not in spec
    assert base64.b64decode(spec["taskTemplate"]) == prepared.template.SerializeToString()


def test_inputs_are_where_the_operators_pod_reads_them(prepared: sdk.PreparedRun, seaweedfs: SeaweedFS) -> None:
    body = {**prepared.body, "metadata": {**prepared.body["metadata"], "uid": str(uuid.uuid4())}}
    ta, decoded = validate(body)
    args = build_pod(ta, decoded, 1, Settings())["spec"]["containers"][0]["args"]
    assert args[args.index("--inputs") + 1] == prepared.inputs_uri

    inputs = common_pb2.Inputs.FromString(seaweedfs.s3fs().cat_file(prepared.inputs_uri))
    assert [(lit.name, lit.value.scalar.primitive.integer) for lit in inputs.literals] == [("x", 5)]


async def test_the_same_code_gives_the_same_bundle(prepared: sdk.PreparedRun, seaweedfs: SeaweedFS) -> None:
    again = await prepare(seaweedfs, sdk.new_run_name(), {"x": "7"})
    assert (again.bundle_uri, again.version) == (prepared.bundle_uri, prepared.version)
    assert again.inputs_uri != prepared.inputs_uri
    inputs = common_pb2.Inputs.FromString(seaweedfs.s3fs().cat_file(again.inputs_uri))
    assert inputs.literals[0].value.scalar.primitive.integer == 7


@pytest.mark.parametrize(
    ("task", "raw_inputs", "message"),
    [
        ("pipeline", {"x": "5", "y": "1"}, "task 'pipeline' has no input 'y'; it takes x: int"),
        ("pipeline", {}, "task 'pipeline' needs the input 'x' (-i x=VALUE)"),
        ("pipeline", {"x": "five"}, "input 'x' expects int, got 'five'"),
        ("nope", {"x": "5"}, "has no task 'nope' (its tasks: pipeline, step_one, step_two)"),
        ("flyte", {"x": "5"}, "'flyte' in"),
    ],
)
async def test_refused_before_anything_is_written(
    seaweedfs: SeaweedFS, task: str, raw_inputs: dict[str, str], message: str
) -> None:
    run = sdk.new_run_name()
    with pytest.raises(errors.ClientError) as exc:
        await prepare(seaweedfs, run, raw_inputs, task=task)
    assert message in str(exc.value)
    assert not seaweedfs.s3fs().exists(f"{seaweedfs.bucket}/{PROJECT}/{DOMAIN}/{run}/inputs/inputs.pb")


async def test_wrong_credentials_are_one_line_without_the_secret(seaweedfs: SeaweedFS) -> None:
    secret = "not-the-secret-0123456789"
    settings = seaweedfs.settings(storage_secret_access_key=secret)
    with pytest.raises(errors.ClientError) as exc:
        await prepare(seaweedfs, sdk.new_run_name(), {"x": "5"}, settings=settings)
    message = str(exc.value)
    assert message.startswith("uploading the code bundle to s3://") and "\n" not in message
    assert secret not in message


async def test_a_cached_task_gets_a_cache_key_that_ignores_its_ignored_inputs(seaweedfs: SeaweedFS) -> None:
    """The key (the runs service's, tests/unit/client/test_sdk.py) of the SDK's own serialization and inputs.pb."""
    cached = Path(__file__).resolve().parent / "sdk_tasks" / "cached.py"

    async def key(**inputs: str) -> str:
        prepared = await sdk.prepare_sdk_run(
            cached, "square", inputs, run=sdk.new_run_name(), namespace=NAMESPACE, project=PROJECT, domain=DOMAIN,
            storage=f"s3://{seaweedfs.bucket}", settings=seaweedfs.settings(),
        )
        template = prepared.template
        assert template.metadata.discoverable and template.metadata.discovery_version == "v2"
        stored = common_pb2.Inputs.FromString(seaweedfs.s3fs().cat_file(prepared.inputs_uri))
        assert prepared.body["spec"]["cacheKey"] == sdk.cache_key(template, stored)
        return prepared.body["spec"]["cacheKey"]

    assert await key(x="3") == await key(x="3", note="ignored")
    assert await key(x="3") != await key(x="4")


def test_an_uncached_task_has_no_cache_key(prepared: sdk.PreparedRun) -> None:
    assert "cacheKey" not in prepared.body["spec"]
