"""A TaskTemplate serialized by the real Flyte SDK, submitted as a TaskAction: the pod the operator creates on the
real control plane is exactly the one pods.builder computes (the storage tier runs that pod's command with the
SDK's `a0` and checks its outputs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from flyte._code_bundle import build_code_bundle
from flyte._internal.runtime.task_serde import translate_task_to_wire
from flyte.models import SerializationContext
from flyteidl2.core import tasks_pb2

from taskaction_operator.client.manifests import taskaction
from taskaction_operator.reconcile.task import validate
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.pods.resources import quantity_value
from taskaction_operator.settings import Settings
from taskaction_operator.storage import paths
from tests.storage.sdk_tasks import hello
from tests.support.kube import Kube

SDK_TASKS = Path(hello.__file__).resolve().parent


@pytest.fixture(scope="module")
async def sdk_template(tmp_path_factory: pytest.TempPathFactory) -> tasks_pb2.TaskTemplate:
    bundle = await build_code_bundle(
        from_dir=SDK_TASKS, dryrun=True, copy_bundle_to=tmp_path_factory.mktemp("bundle"), copy_style="loaded_modules"
    )
    context = SerializationContext(
        project="demo",
        domain="development",
        org="local",
        version=bundle.computed_version,
        code_bundle=dataclasses.replace(bundle, tgz=f"s3://flyte-data/uploads/demo/development/{bundle.computed_version}/bundle.tar.gz"),
        root_dir=SDK_TASKS,
    )
    return translate_task_to_wire(hello.double, context).task_template


def test_the_operator_creates_the_sdk_task_pod(kube: Kube, operator, namespace: str, sdk_template: tasks_pb2.TaskTemplate) -> None:
    kube.create(taskaction(sdk_template, run="sdkrun", namespace=namespace, labels={"sim.taskaction.dev/outcome": "running"}))
    pod = kube.wait("pod", "sdkrun-a0-0", namespace, lambda o: o is not None, "created")
    stored = kube.get("taskaction", "sdkrun-a0", namespace)
    ta, template = validate(stored)
    expected = build_pod(ta, template, 1, Settings())
    container, want = pod["spec"]["containers"][0], expected["spec"]["containers"][0]
    assert container["image"] == sdk_template.container.image
    assert container["args"] == want["args"]
    assert container["args"][0] == "a0"
    prefix = paths.action_output_prefix(namespace, "sdkrun-a0", stored["spec"]["runOutputBase"], "a0", 1)
    assert container["args"][container["args"].index("--outputs-path") + 1] == prefix
    assert container["args"][container["args"].index("--tgz") + 1] == sdk_template.metadata.code_bundle_uri
    assert [e["name"] for e in container["env"]] == [e["name"] for e in want["env"]]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert (env["ACTION_NAME"], env["RUN_NAME"], env["_U_ORG_NAME"]) == ("a0", "sdkrun", "local")
    assert (env["FLYTE_INTERNAL_EXECUTION_PROJECT"], env["FLYTE_INTERNAL_EXECUTION_DOMAIN"]) == ("demo", "development")
    # The API server writes quantities in canonical form (1000m -> 1, 1024Mi -> 1Gi): compare their values.
    values = lambda resources: {k: {n: quantity_value(q) for n, q in v.items()} for k, v in resources.items()}  # noqa: E731
    assert values(container["resources"]) == values(want["resources"])
    assert pod["metadata"]["labels"]["task-name"] == expected["metadata"]["labels"]["task-name"]
