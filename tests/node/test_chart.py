"""`helm install` of the chart with the operator image built by buildah: the operator pod runs on the real node in a
namespace that enforces the restricted Pod Security profile, becomes Ready (its readiness probe answered over the
pod network), and reconciles a TaskAction whose task pod also runs on the node.

The pod is not on the host network (restricted forbids it), the API server listens on the host's 127.0.0.1 only, and
the local cluster has no cluster DNS and no kube-proxy: tests/node/pod_apiserver.py stands in for both inside the
pod's network namespace, and the chart's extraEnv points the in-cluster config at 127.0.0.1:443
(KUBERNETES_SERVICE_HOST/PORT), the override a cluster without kube-proxy needs."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from taskaction_operator.client.manifests import container_template, taskaction
from tests.e2e.helm import CHART, Helm, install_helm
from tests.node.conftest import Images, cluster, node, real_node_pod_template
from tests.node.pod_apiserver import SERVICE_PORT, PodAPIServer, sandbox_netns
from tests.support.kube import Kube, is_true
from tests.support.waiting import wait_until

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
READY_TIMEOUT = 180


@pytest.fixture(scope="module")
def helm(kube: Kube, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(install_helm(), kube.kubeconfig, tmp_path_factory.mktemp("helm-home"))


@pytest.fixture
def namespaces(kube: Kube) -> Iterator[tuple[str, str]]:
    """The operator's namespace (restricted) and the one whose TaskActions it executes."""
    suffix = uuid.uuid4().hex[:8]
    operator_ns, tasks_ns = f"node-op-{suffix}", f"node-tasks-{suffix}"
    for name in (operator_ns, tasks_ns):
        kube.run("create", "namespace", name)
        kube.wait("serviceaccount", "default", name, lambda sa: sa is not None, "created by kube-controller-manager")
    kube.run("label", "namespace", operator_ns, *(f"{k}={v}" for k, v in RESTRICTED.items()))
    kube.create(real_node_pod_template(tasks_ns))
    yield operator_ns, tasks_ns
    for name in (tasks_ns, operator_ns):
        kube.run("delete", "taskactions", "--all", "-n", name, "--wait=false", check=False)
        kube.run("delete", "namespace", name, "--wait=false")


def values(images: Images, tasks_ns: str) -> dict:
    repository, tag = images.operator.rsplit(":", 1)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "Never"},  # imported into the node, never pulled
        "crds": {"install": False},  # the session's CRD (tests/e2e/helm.py CRD_NOT_INSTALLED)
        "watchNamespaces": [tasks_ns],
        "podPolicy": {"level": "privileged"},  # the real-node PodTemplate's hostNetwork is above the chart's baseline
        "nodeSelector": {node.TAINT_KEY: "true"},
        "tolerations": [{"key": node.TAINT_KEY, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
        "extraEnv": [
            {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(SERVICE_PORT)},
            {"name": "TASKACTION_DEFAULT_POD_TEMPLATE_NAME", "value": "real-node"},
            # No object store in this test: the task declares no outputs and the operator is not to look for them.
            {"name": "TASKACTION_READ_OUTPUTS", "value": "false"},
        ],
    }


def finished(ta: dict | None) -> dict | None:
    return ta if is_true(ta, "Succeeded") or is_true(ta, "Failed") else None


def test_the_chart_runs_the_operator_image_on_the_node_under_restricted_and_it_reconciles(
    kube: Kube, crd: None, helm: Helm, images: Images, namespaces: tuple[str, str], tmp_path: Path
) -> None:
    operator_ns, tasks_ns = namespaces
    api_port = urlsplit(cluster.apiserver_url()).port
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values(images, tasks_ns)))
    release = f"node-{operator_ns.rsplit('-', 1)[1]}"
    install = subprocess.Popen([helm.binary, "install", release, str(CHART), "--namespace", operator_ns, "-f", str(values_file),
                                "--wait", "--timeout", f"{READY_TIMEOUT}s"], env=helm.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        selector = f"app.kubernetes.io/instance={release}"
        pod = wait_until(lambda: next(iter(kube.list("pods", operator_ns, selector)), None), 60, "no operator pod")
        netns = wait_until(lambda: sandbox_netns(node.Paths(cluster.CACHE).socket, pod["metadata"]["uid"]), 60,
                           f"no sandbox of pod {pod['metadata']['name']} in containerd")
        with PodAPIServer(netns, api_port) as door:
            out, err = install.communicate(timeout=READY_TIMEOUT + 30)
            assert install.returncode == 0, f"helm install failed:\n{err}\n{kube.run('describe', 'pod', '-n', operator_ns, '-l', selector).stdout}"
            assert "STATUS: deployed" in out

            (pod,) = kube.list("pods", operator_ns, selector)
            assert pod["spec"]["nodeName"] == node.NODE_NAME
            assert not pod["spec"].get("hostNetwork")
            ready = [c for c in pod["status"]["conditions"] if c["type"] == "Ready"]
            assert ready and ready[0]["status"] == "True", pod["status"]
            (status,) = pod["status"]["containerStatuses"]
            assert status["imageID"] and status["image"].endswith(images.operator.split("/", 1)[1])

            body = taskaction(container_template(images.base, ["-c", "print('reconciled')"], command=["python3"]),
                              run="chart", namespace=tasks_ns)
            kube.create(body)
            ta = wait_until(lambda: finished(kube.get("taskaction", "chart-a0", tasks_ns)), 120,
                            lambda: "TaskAction chart-a0 not finished; the operator pod's log:\n"
                            + kube.run("logs", "-n", operator_ns, "-l", selector, "--tail=40", check=False).stdout)
            assert is_true(ta, "Succeeded"), json.dumps(ta["status"], indent=1)
            assert kube.get("pod", "chart-a0-0", tasks_ns)["spec"]["nodeName"] == node.NODE_NAME
            assert door.connections > 0
            # Deleted while the operator still runs, so that it releases the finalizer.
            kube.run("delete", "taskaction", "chart-a0", "-n", tasks_ns, "--wait=true", "--timeout=60s")
    finally:
        if install.poll() is None:
            install.kill()
            install.wait()
        helm.run("uninstall", release, "--namespace", operator_ns, "--wait", "--timeout", "60s", check=False, timeout=90)
