"""A task whose first attempt really exits non-zero in its container is retried in a new pod, and succeeds on its
second attempt: status.attempts == 2. The attempt tells itself apart by FLYTE_ATTEMPT_NUMBER, as Flyte tasks do."""

from __future__ import annotations

from taskaction_operator.client.manifests import container_template, taskaction
from tests.node.conftest import Images
from tests.support.kube import Kube, is_true

# Fails on the first attempt (FLYTE_ATTEMPT_NUMBER 0), succeeds on the second.
FLAKY = "import os, sys\nattempt = int(os.environ['FLYTE_ATTEMPT_NUMBER'])\nprint('attempt', attempt)\nsys.exit(3 if attempt == 0 else 0)"


def test_a_failed_first_attempt_is_retried_and_the_second_succeeds(kube: Kube, operator, namespace: str, images: Images) -> None:
    kube.create(taskaction(container_template(images.base, ["-c", FLAKY], command=["python3"], retries=1), run="flaky",
                           namespace=namespace))
    ta = kube.wait("taskaction", "flaky-a0", namespace, lambda o: is_true(o, "Succeeded") or is_true(o, "Failed"), "finished",
                   timeout=120)
    assert is_true(ta, "Succeeded"), ta["status"]
    assert ta["status"]["attempts"] == 2
    retried = [h.get("message", "") for h in ta["status"]["phaseHistory"] if h["phase"] == "RetryableFailure"]
    assert any("exit code (3)" in m for m in retried), ta["status"]["phaseHistory"]
    second = kube.get("pod", "flaky-a0-1", namespace)
    assert second["spec"]["nodeName"] == "taskaction-node"
    assert second["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
