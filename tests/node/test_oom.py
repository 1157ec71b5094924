"""A task over its memory limit is killed by the kernel (memcg OOM on the real node's cgroups), the kubelet reports
the container OOMKilled, and the operator ends the action with errorState OOMKilled."""

from __future__ import annotations

from taskaction_operator.client.manifests import container_template, taskaction
from tests.node.conftest import Images
from tests.support.kube import Kube, is_true

# 256 MiB written (bytes * n touches every page) in a 64Mi cgroup.
HOG = "data = b'x' * (256 << 20)\nprint('not killed:', len(data))"


def test_a_task_over_its_memory_limit_is_oomkilled(kube: Kube, operator, namespace: str, images: Images) -> None:
    template = container_template(images.base, ["-c", HOG], command=["python3"], memory="64Mi")
    kube.create(taskaction(template, run="oom", namespace=namespace))
    ta = kube.wait("taskaction", "oom-a0", namespace, lambda o: is_true(o, "Failed") or is_true(o, "Succeeded"), "finished",
                   timeout=120)
    pod = kube.get("pod", "oom-a0-0", namespace)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["memory"] == "64Mi"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137), terminated
    assert is_true(ta, "Failed"), ta["status"]
    error = ta["status"]["errorState"]
    assert (error["code"], error["kind"]) == ("OOMKilled", "USER"), error
