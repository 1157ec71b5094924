"""Task shapes of the Flyte SDK on the real API server: secrets read from a real Secret (no webhook), a pod of several
containers with an init container (the Flyte env and rendered args in each; done once all have ended), shared memory
and GPU accelerator selection in the shape the API server accepts and the scheduler acts on.

The pods that must really run their commands do so under the kubelet stand-in (tests/support/kubelet_standin.py)."""

from __future__ import annotations

import base64
from pathlib import Path

from flyteidl2.core import security_pb2, tasks_pb2
from google.protobuf import struct_pb2

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, condition, is_true, progressing_reason
from tests.support.kubelet_standin import KubeletStandIn

RUNNING = {"sim.taskaction.dev/outcome": "running"}
IMAGE = "busybox:1.36"


def test_secrets_are_read_from_a_real_secret_as_env_var_and_file(kube: Kube, operator, namespace: str, tmp_path: Path) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": namespace},
            "data": {"api-key": base64.b64encode(b"s3cr3t").decode(), "Token": base64.b64encode(b"file-token").decode()},
        }
    )
    # The SDK's `Secret(group="creds", key="api-key")` (an env var, API_KEY) and `Secret(..., mount=/etc/flyte/secrets)`.
    script = (
        # A shell keeps no variable of a name with "-" (upstream's name keeps the key's): read its own env ($$$$: a $$ after
        # the $(VAR) expansion of the kubelet).
        'test "$API_KEY" = s3cr3t && tr "\\0" "\\n" < /proc/$$$$/environ | grep -qx "_UNION_CREDS_API-KEY=s3cr3t"'
        ' && test "$(cat /etc/flyte/secrets/creds/token)" = file-token'
        ' && test "$FLYTE_SECRETS_DEFAULT_DIR" = /etc/flyte/secrets'
    )
    template = container_template(IMAGE, [script], command=["sh", "-c"])
    template.security_context.secrets.extend(
        [
            security_pb2.Secret(group="creds", key="api-key", env_var="API_KEY", mount_requirement=security_pb2.Secret.ENV_VAR),
            security_pb2.Secret(group="creds", key="Token", mount_requirement=security_pb2.Secret.FILE),
        ]
    )
    with KubeletStandIn(kube, namespace, tmp_path) as kubelet:
        kube.create(taskaction(template, run="sh-secrets", namespace=namespace, labels=RUNNING))
        record = kubelet.wait_for("sh-secrets-a0-0")
        assert record.exit_codes == {"sh-secrets-a0-0": 0}, kubelet.report()
        kube.wait("taskaction", "sh-secrets-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    pod = kube.get("pod", "sh-secrets-a0-0", namespace)
    assert "inject-flyte-secrets" not in pod["metadata"]["labels"]


def k8s_pod_template(pod_spec: dict, primary: str) -> tasks_pb2.TaskTemplate:
    """The SDK's `pod_template=flyte.PodTemplate(primary_container_name=..., pod_spec=...)`."""
    template = container_template(IMAGE, [])
    template.ClearField("container")
    spec = struct_pb2.Struct()
    spec.update(pod_spec)
    template.k8s_pod.pod_spec.CopyFrom(spec)
    template.config["primary_container_name"] = primary
    template.type = "python"
    return template


def test_a_pod_of_several_containers_ends_when_all_have(kube: Kube, operator, namespace: str, tmp_path: Path) -> None:
    """The init container gets the Flyte env and its args rendered; the primary ends at once, the sidecar only once it
    found what the init container wrote. Without a primary annotation the action waits for the sidecar too."""
    shared = {"name": "shared", "mountPath": "/shared"}
    pod_spec = {
        "initContainers": [
            {"name": "prep", "image": IMAGE, "command": ["sh", "-c"], "args": ['echo "$ACTION_NAME {{.outputPrefix}}" > /shared/prep'], "volumeMounts": [shared]}
        ],
        "containers": [
            {"name": "primary", "image": IMAGE, "command": ["sh", "-c"], "args": ["true"], "volumeMounts": [shared]},
            {"name": "sidecar", "image": IMAGE, "command": ["sh", "-c"], "args": ["sleep 1; grep -q '^a0 s3://' /shared/prep"], "volumeMounts": [shared]},
        ],
        "volumes": [{"name": "shared", "emptyDir": {}}],
    }
    with KubeletStandIn(kube, namespace, tmp_path) as kubelet:
        kube.create(taskaction(k8s_pod_template(pod_spec, "primary"), run="sh-multi", namespace=namespace, labels=RUNNING))
        record = kubelet.wait_for("sh-multi-a0-0")
        assert record.exit_codes == {"prep": 0, "primary": 0, "sidecar": 0}, kubelet.report()
        kube.wait("taskaction", "sh-multi-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    pod = kube.get("pod", "sh-multi-a0-0", namespace)
    assert "primary_container_name" not in pod["metadata"]["annotations"]


def test_shared_memory_is_a_memory_volume_the_api_server_accepts(kube: Kube, operator, namespace: str) -> None:
    template = container_template(IMAGE, ["true"])
    template.extended_resources.shared_memory.CopyFrom(tasks_pb2.SharedMemory(mount_path="/dev/shm", mount_name="flyte-shm"))
    kube.create(taskaction(template, run="sh-shm", namespace=namespace, labels={"sim.taskaction.dev/outcome": "succeed"}))
    kube.wait("taskaction", "sh-shm-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    pod = kube.get("pod", "sh-shm-a0-0", namespace)
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "flyte-shm")
    assert volume["emptyDir"] == {"medium": "Memory", "sizeLimit": "0"}
    assert {"name": "flyte-shm", "mountPath": "/dev/shm"} in pod["spec"]["containers"][0]["volumeMounts"]


def test_a_gpu_partition_is_asked_of_the_scheduler(kube: Kube, operator, namespace: str) -> None:
    """kwok's nodes have no GPUs and no accelerator labels: the scheduler says why the pod waits, and the action is
    Queued with that reason."""
    template = container_template(IMAGE, ["true"])
    template.container.resources.requests.add(name=tasks_pb2.Resources.GPU, value="1")
    template.extended_resources.gpu_accelerator.CopyFrom(tasks_pb2.GPUAccelerator(device="A100", partition_size="1g.5gb"))
    kube.create(taskaction(template, run="sh-gpu", namespace=namespace))
    pod = kube.wait(
        "pod",
        "sh-gpu-a0-0",
        namespace,
        lambda o: o is not None and any(c.get("reason") == "Unschedulable" for c in o["status"].get("conditions") or []),
        "unschedulable",
    )
    assert pod["metadata"]["labels"]["platform.union.ai/gpu-partition-slices"] == "1"
    assert {"key": "k8s.amazonaws.com/accelerator", "operator": "Equal", "value": "nvidia-tesla-a100", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    (term,) = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [
        {"key": "k8s.amazonaws.com/accelerator", "operator": "In", "values": ["nvidia-tesla-a100"]},
        {"key": "k8s.amazonaws.com/gpu-partition-size", "operator": "In", "values": ["1g.5gb"]},
    ]
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    queued = lambda o: progressing_reason(o) == "Queued" and "Unschedulable" in condition(o, "Progressing")["message"]  # noqa: E731
    kube.wait("taskaction", "sh-gpu-a0", namespace, queued, "Queued, Unschedulable")
    kube.delete("taskaction", "sh-gpu-a0", namespace)


def test_a_pod_name_longer_than_a_container_name_may_be(kube: Kube, operator, namespace: str) -> None:
    """A TaskAction applied by hand may have a long name (the actions service's are at most 61 characters): its pod keeps
    the name, its container gets upstream's 4-character fallback, and the API server takes both."""
    body = taskaction(container_template(IMAGE, ["true"]), run="sh-long", namespace=namespace, labels={"sim.taskaction.dev/outcome": "succeed"})
    name = "sh-long-" + "x" * 64
    body["metadata"]["name"] = name
    kube.create(body)
    kube.wait("taskaction", name, namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")
    pod = kube.get("pod", f"{name}-0", namespace)
    (container,) = pod["spec"]["containers"]
    assert len(container["name"]) == 4 and pod["metadata"]["annotations"]["primary_container_name"] == container["name"]
