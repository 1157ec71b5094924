"""A task's pod is made on the PodTemplate it names, looked up in its namespace; a missing one fails the action."""

from __future__ import annotations

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, is_true


def test_pod_is_built_on_the_named_pod_template(kube: Kube, operator, namespace: str) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "gpu-base", "namespace": namespace},
            "template": {
                "metadata": {"labels": {"tier": "gpu"}},
                "spec": {
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [{"name": "default", "image": "ignored", "env": [{"name": "FROM_TEMPLATE", "value": "yes"}]}],
                },
            },
        }
    )
    template = container_template("busybox", ["true"], pod_template_name="gpu-base")
    kube.create(taskaction(template, run="run-tpl", namespace=namespace, labels={"sim.taskaction.dev/outcome": "succeed"}))
    pod = kube.wait("pod", "run-tpl-a0-0", namespace, lambda o: o is not None, "created")
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
    assert pod["metadata"]["labels"]["tier"] == "gpu"
    env = pod["spec"]["containers"][0]["env"]
    assert env[0] == {"name": "FROM_TEMPLATE", "value": "yes"}
    assert any(e["name"] == "ACTION_NAME" for e in env)
    kube.wait("taskaction", "run-tpl-a0", namespace, lambda o: is_true(o, "Succeeded"), "Succeeded")


def test_a_named_pod_template_that_does_not_exist_fails_the_action(kube: Kube, operator, namespace: str) -> None:
    template = container_template("busybox", ["true"], pod_template_name="nowhere")
    kube.create(taskaction(template, run="run-notpl", namespace=namespace))
    ta = kube.wait("taskaction", "run-notpl-a0", namespace, lambda o: is_true(o, "Failed"), "Failed")
    assert ta["status"]["errorState"] == {"code": "BadTaskSpecification", "kind": "USER", "message": "PodTemplate 'nowhere' does not exist"}
    assert kube.get("pod", "run-notpl-a0-0", namespace) is None
