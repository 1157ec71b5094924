"""Fixtures of the node tier: the local cluster with its real node (`e2e/cluster.py up --with-node`: kubelet,
containerd, runc), the images built by buildah and imported into that node's containerd, a real S3 server, and the
operator as a process whose pods run on the node.

Nothing here skips: a node that cannot come up fails the session, and the failure names the step (`node step
'containerd' failed: ...`). Task pods reach the node through a PodTemplate (`real-node`) that selects it, tolerates
its taint, and puts them on the host network, where the S3 server and the API server listen (127.0.0.1)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.kube import Kube
from tests.support.local_cluster import REPO, cluster
from tests.support.operator_process import OperatorProcess, running_operator, wait_for_port
from tests.support.ports import free_ports
from tests.support.seaweedfs import SeaweedFS, seaweedfs_fixture

node = cluster.node
BUILD_IMAGES = REPO / "e2e" / "build-images.sh"
POD_TEMPLATE = "real-node"
STORAGE_SECRET = "task-storage"
UP_TIMEOUT = 3600  # a cold machine builds the control plane and the kubelet first


def _fail(what: str, proc: subprocess.CompletedProcess) -> None:
    pytest.fail(f"{what} (exit {proc.returncode}):\n{proc.stderr[-6000:]}", pytrace=False)


@pytest.fixture(scope="session")
def kube() -> Kube:
    """Overrides tests/conftest.py's: always the local cluster, because the node's certificate is signed by its CA."""
    proc = subprocess.run([sys.executable, str(cluster.E2E / "cluster.py"), "up", "--with-node"],
                          capture_output=True, text=True, timeout=UP_TIMEOUT)
    if proc.returncode != 0:
        _fail("the real node did not come up: e2e/cluster.py up --with-node", proc)
    return Kube(str(cluster.KUBECONFIG), str(cluster.BIN_DIR / "kubectl"))


@dataclass(frozen=True)
class Images:
    base: str  # Debian + python3, no SDK, no taskaction code: the "any image" of code bundles
    operator: str
    runtime: str  # taskaction-bootstrap: the bundle init container
    sdk: str  # runtime + the Flyte SDK: SDK tasks run in it


@pytest.fixture(scope="session")
def images(kube: Kube) -> Images:
    """Built by e2e/build-images.sh (cached by the hash of their inputs) and imported into the node's containerd."""
    socket_path = node.Paths(cluster.CACHE).socket
    proc = subprocess.run(["bash", str(BUILD_IMAGES), "--sdk", "--containerd", str(socket_path)],
                          capture_output=True, text=True, timeout=UP_TIMEOUT)
    if proc.returncode != 0:
        _fail("node step 'images' failed: e2e/build-images.sh --sdk --containerd", proc)
    built = dict(line.split("=", 1) for line in proc.stdout.split())
    return Images(built["BASE_IMAGE"], built["OPERATOR_IMAGE"], built["RUNTIME_IMAGE"], built["SDK_IMAGE"])


seaweedfs = seaweedfs_fixture(scope="session")


@pytest.fixture(scope="session")
def actions_service_address() -> str:
    """Where the operator serves the Flyte actions service (the SDK's control plane); pods reach it over the host
    network."""
    return f"127.0.0.1:{free_ports(1)[0]}"


def real_node_pod_template(namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": POD_TEMPLATE, "namespace": namespace},
        "template": {
            "spec": {
                "nodeSelector": {node.TAINT_KEY: "true"},
                "tolerations": [{"key": node.TAINT_KEY, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
                # S3 and the API server listen on 127.0.0.1 only: pods share the host's network to reach them.
                "hostNetwork": True,
                # The base of every task container. Its image is the task's; its pull policy is ours: images are
                # imported into the node, never pulled (and the API server would default an untagged image's to Always).
                "containers": [{"name": "default", "image": "unused:none", "imagePullPolicy": "Never"}],
                "initContainers": [{"name": "default-init", "image": "unused:none", "imagePullPolicy": "Never"}],
            }
        },
    }


@pytest.fixture(scope="session")
def bundle_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The node's bundle cache (a hostPath): a directory of this session's, writable by the bootstrap's uid 65532."""
    path = tmp_path_factory.mktemp("bundle-cache")
    path.chmod(0o777)
    return path


# One namespace and one operator for the tier: each test names its own runs, and a new operator per module would
# add its start and drain (~6 s) four times over.
@pytest.fixture(scope="session")
def namespace(kube: Kube, seaweedfs: SeaweedFS) -> Iterator[str]:
    name = f"node-{uuid.uuid4().hex[:8]}"
    kube.run("create", "namespace", name)
    kube.wait("serviceaccount", "default", name, lambda sa: sa is not None, "created by kube-controller-manager")
    kube.create(real_node_pod_template(name))
    kube.run("create", "secret", "generic", STORAGE_SECRET, "-n", name,
             f"--from-literal=access-key-id={seaweedfs.access_key}", f"--from-literal=secret-access-key={seaweedfs.secret_key}")
    yield name
    kube.run("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="session")
def operator(kube: Kube, crd: None, namespace: str, seaweedfs: SeaweedFS, images: Images, actions_service_address: str,
             bundle_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    env = {
        # The operator reads error.pb / outputs.pb of succeeded pods ...
        "TASKACTION_STORAGE_ENDPOINT": seaweedfs.endpoint,
        "TASKACTION_STORAGE_ACCESS_KEY_ID": seaweedfs.access_key,
        "TASKACTION_STORAGE_SECRET_ACCESS_KEY": seaweedfs.secret_key,
        # ... and pods get the store as env, credentials from the Secret, as in a deployment.
        "TASKACTION_POD_STORAGE_ENDPOINT": seaweedfs.endpoint,
        "TASKACTION_POD_STORAGE_SECRET": STORAGE_SECRET,
        "TASKACTION_DEFAULT_POD_TEMPLATE_NAME": POD_TEMPLATE,
        # The real-node PodTemplate shares the host's network (above): above baseline, so the level is set.
        "TASKACTION_POD_SECURITY_LEVEL": "privileged",
        "TASKACTION_BOOTSTRAP_IMAGE": images.runtime,
        "TASKACTION_BOOTSTRAP_CACHE_HOST_PATH": str(bundle_cache),
        # ... and the control plane of Flyte SDK tasks: the operator's actions service, where parents enqueue children.
        "TASKACTION_ACTIONS_SERVICE_ADDRESS": actions_service_address,
        "TASKACTION_ACTIONS_SERVICE_NAMESPACE": namespace,
        "TASKACTION_DEFAULT_ENV_VARS": json.dumps(
            {"_U_EP_OVERRIDE": f"http://{actions_service_address}", "_U_USE_ACTIONS": "1"}),  # the SDK sends its token
    }
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator") / "operator.log", env) as process:
        wait_for_port(actions_service_address, process)
        yield process


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Attach the operator's log and the node's kubelet log to a failing node test."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed or not hasattr(item, "funcargs"):
        return
    process = item.funcargs.get("operator")
    if isinstance(process, OperatorProcess):
        report.sections.append(("operator log", process.log()))
    report.sections.append(("kubelet log", node.tail(node.Paths(cluster.CACHE).logs / "kubelet.log", 60)))
