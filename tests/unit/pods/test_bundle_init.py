"""Code bundles for any image (pods/bundle_init.py): an init container fetches the bundle into an emptyDir the task
runs from, unless the container fetches it itself (Flyte SDK images: `a0 ... --tgz <uri>`). Storage settings reach
the pod as env."""

from __future__ import annotations

from typing import Any

from taskaction_operator.api.models import TaskAction
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.settings import Settings

from ..builders import spec, task_template, taskaction

BUNDLE = "s3://flyte-data/uploads/demo/development/v1/fastabc.tar.gz"


def make(args: list[str], settings: Settings | None = None, bundle: str = BUNDLE) -> dict[str, Any]:
    template = task_template(args=args)
    template.metadata.code_bundle_uri = bundle
    body = taskaction(spec_=spec(template))
    return build_pod(TaskAction.model_validate(body), template, 1, settings or Settings())


def test_generic_image_gets_a_bootstrap_init_container() -> None:
    pod = make(["python", "-m", "app"], Settings(bootstrap_image="runtime:1"))
    (init,) = pod["spec"]["initContainers"]
    assert init["name"] == "taskaction-bootstrap" and init["image"] == "runtime:1"
    assert init["args"] == ["--bundle", BUNDLE, "--dest", "/var/run/taskaction/code"]
    assert {"name": "taskaction-code", "emptyDir": {}} in pod["spec"]["volumes"]
    task = pod["spec"]["containers"][0]
    assert task["workingDir"] == "/var/run/taskaction/code"
    assert {"name": "taskaction-code", "mountPath": "/var/run/taskaction/code"} in task["volumeMounts"]
    assert init["volumeMounts"] == [{"name": "taskaction-code", "mountPath": "/var/run/taskaction/code"}]


def test_flyte_sdk_container_fetches_its_own_bundle() -> None:
    pod = make(["a0", "--inputs", "{{.input}}", "--tgz", BUNDLE, "--dest", "."])
    assert "initContainers" not in pod["spec"]
    assert "workingDir" not in pod["spec"]["containers"][0]


def test_no_bundle_no_init_container() -> None:
    assert "initContainers" not in make(["python", "-m", "app"], bundle="")["spec"]


def test_node_cache_is_a_host_path_shared_by_the_node() -> None:
    pod = make(["python"], Settings(bootstrap_cache_host_path="/var/lib/taskaction/bundles"))
    init = pod["spec"]["initContainers"][0]
    assert init["args"][-2:] == ["--cache-dir", "/var/cache/taskaction/bundles"]
    assert {"name": "taskaction-bundle-cache", "hostPath": {"path": "/var/lib/taskaction/bundles", "type": "DirectoryOrCreate"}} in pod["spec"]["volumes"]


def test_storage_reaches_the_pod_as_flyte_and_aws_env_with_credentials_by_reference() -> None:
    settings = Settings(pod_storage_endpoint="http://minio:9000", pod_storage_region="us-east-1", pod_storage_secret="store")
    pod = make(["python"], settings)
    for container in (pod["spec"]["initContainers"][0], pod["spec"]["containers"][0]):
        env = {e["name"]: e for e in container["env"]}
        assert env["FLYTE_AWS_ENDPOINT"]["value"] == "http://minio:9000"
        assert env["AWS_ENDPOINT_URL"]["value"] == "http://minio:9000"
        assert env["AWS_REGION"]["value"] == "us-east-1"
        assert env["FLYTE_AWS_SECRET_ACCESS_KEY"] == {
            "name": "FLYTE_AWS_SECRET_ACCESS_KEY",
            "valueFrom": {"secretKeyRef": {"name": "store", "key": "secret-access-key"}},
        }
        assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": "store", "key": "access-key-id"}
        assert not any("value" in e and "secret" in e["name"].lower() for e in container["env"])
