"""CoPilot of a raw container (pods/copilot.py): the pod flytek8s' AddCoPilotToContainer / AddCoPilotToPod build for a
ContainerTask, with the store as task pods see it and no credential on a command line."""

from __future__ import annotations

import base64

import pytest
from flyteidl2.core import interface_pb2, tasks_pb2

from taskaction_operator.api.decoding import SpecError
from taskaction_operator.settings import Settings

from ..builders import INPUT_URI, ROOT_OUTPUT_1, container_task, task_template
from .pod_builders import make

SETTINGS = Settings(pod_storage_endpoint="http://seaweedfs.storage:8333", pod_storage_region="eu-west-1", pod_storage_secret="task-s3")
COMMAND = [
    "/bin/flyte-copilot", "--storage.limits.maxDownloadMBs=0", "--logger.level=3", "--err-output-name=error.pb", "--storage.enable-multicontainer",
    "--storage.container=flyte-data", "--storage.type=stow",
    "--storage.stow.config", "auth_type=iam", "--storage.stow.config", "disable_ssl=true",
    "--storage.stow.config", "endpoint=http://seaweedfs.storage:8333", "--storage.stow.config", "region=eu-west-1",
    "--storage.stow.kind=s3",
]  # fmt: skip


def test_the_uploader_runs_first_as_a_sidecar_and_the_downloader_last() -> None:
    template = container_task(storage="2Gi")
    spec = make(template, settings=SETTINGS)["spec"]
    uploader, downloader = spec["initContainers"]
    assert (uploader["name"], uploader["restartPolicy"], downloader["name"]) == ("flyte-copilot-uploader", "Always", "flyte-copilot-downloader")
    assert "restartPolicy" not in downloader
    assert spec["terminationGracePeriodSeconds"] == 3600
    assert spec["volumes"] == [{"name": "flyte-inputs", "emptyDir": {"sizeLimit": "2Gi"}}, {"name": "flyte-outputs", "emptyDir": {"sizeLimit": "2Gi"}}]
    (primary,) = spec["containers"]
    assert primary["volumeMounts"] == [{"name": "flyte-inputs", "mountPath": "/var/inputs"}, {"name": "flyte-outputs", "mountPath": "/var/outputs"}]
    assert primary["securityContext"] == {"capabilities": {}}
    assert downloader["args"] == [
        "download", "--from-remote", f"{INPUT_URI}", "--to-output-prefix", ROOT_OUTPUT_1, "--to-local-dir", "/var/inputs",
        "--format", "JSON", "--file-input-layout", "DIRECT",
        "--input-interface", base64.b64encode(template.interface.inputs.SerializeToString()).decode(),
    ]  # fmt: skip
    assert uploader["args"] == [
        "sidecar", "--timeout", "1h0m0s", "--to-raw-output", ROOT_OUTPUT_1, "--to-output-prefix", ROOT_OUTPUT_1,
        "--from-local-dir", "/var/outputs", "--interface", base64.b64encode(template.interface.SerializeToString()).decode(),
    ]  # fmt: skip
    assert interface_pb2.TypedInterface.FromString(base64.b64decode(uploader["args"][-1])) == template.interface


def test_copilot_containers_reach_the_store_with_the_pods_settings_and_no_credential_in_sight() -> None:
    spec = make(container_task(), settings=SETTINGS)["spec"]
    for container in spec["initContainers"]:
        assert container["command"] == COMMAND
        assert container["image"] == "cr.flyte.org/flyteorg/flyte-binary-v2:latest"
        assert container["resources"] == {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "500m", "memory": "128Mi"}}
        assert (container["workingDir"], container["imagePullPolicy"], container["terminationMessagePolicy"]) == ("/", "IfNotPresent", "FallbackToLogsOnError")
        secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
        assert secrets == {
            "AWS_ACCESS_KEY_ID": {"name": "task-s3", "key": "access-key-id"},
            "AWS_SECRET_ACCESS_KEY": {"name": "task-s3", "key": "secret-access-key"},
        }
        assert not any(e["name"].startswith(("FLYTE_", "_F_")) for e in container["env"])  # not the task's env
        assert len(container["volumeMounts"]) == 1


def test_only_what_the_interface_needs() -> None:
    only_outputs = make(container_task(inputs=False), settings=SETTINGS)["spec"]
    assert [c["name"] for c in only_outputs["initContainers"]] == ["flyte-copilot-uploader"]
    only_inputs = make(container_task(outputs=False), settings=SETTINGS)["spec"]
    assert [c["name"] for c in only_inputs["initContainers"]] == ["flyte-copilot-downloader"]
    assert "terminationGracePeriodSeconds" not in only_inputs and only_inputs["volumes"] == [{"name": "flyte-inputs", "emptyDir": {}}]


def test_no_copilot_without_an_enabled_data_config() -> None:
    disabled = container_task()
    disabled.container.data_config.enabled = False
    for template in (disabled, task_template()):
        spec = make(template, settings=SETTINGS)["spec"]
        assert "initContainers" not in spec and "volumeMounts" not in spec["containers"][0]


def test_paths_default_to_upstreams_and_settings_shape_the_containers() -> None:
    template = container_task()
    template.container.data_config.ClearField("input_path")
    template.container.data_config.format = tasks_pb2.DataLoadingConfig.YAML
    settings = SETTINGS.model_copy(update={"copilot_image": "registry/flyte-copilot:1", "copilot_timeout_seconds": 600.0, "pod_storage_endpoint": None})
    spec = make(template, settings=settings)["spec"]
    uploader, downloader = spec["initContainers"]
    assert downloader["args"][downloader["args"].index("--to-local-dir") + 1] == "/var/flyte/inputs"
    assert downloader["args"][downloader["args"].index("--format") + 1] == "YAML"
    assert uploader["args"][2] == "10m0s" and spec["terminationGracePeriodSeconds"] == 600 and uploader["image"] == "registry/flyte-copilot:1"
    assert not any(flag.startswith("endpoint=") for flag in uploader["command"])  # AWS itself


def test_a_store_copilot_cannot_reach_is_an_invalid_spec() -> None:
    with pytest.raises(SpecError, match="s3:// stores only"):
        make(container_task(), settings=SETTINGS, runOutputBase="gs://bucket/run/")
