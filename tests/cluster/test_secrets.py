"""No secret value of the operator's in what it writes or others read: the operator runs with S3 credentials in its
env (TASKACTION_STORAGE_*, a SeaweedFS of this module's own with credentials no other text holds) and a ServiceAccount
token in its kubeconfig, at DEBUG and posting every Event; task pods get the same S3 credentials from a Secret. Then
actions that succeed, that fail reading the store, whose bootstrap fails, and a task that prints its env as it
fails; and a grep of the operator's log, the namespace's Events, every pod's termination messages and every
TaskAction's status for each secret."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, is_true
from tests.support.kubelet_standin import KubeletStandIn
from tests.support.operator_process import OperatorProcess
from tests.support.seaweedfs import SeaweedFS

POD_SECRET = "task-storage"
RUNNING = {"sim.taskaction.dev/outcome": "running"}  # the kubelet stand-in's pods
SUCCEED = {"sim.taskaction.dev/outcome": "succeed"}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    unique = uuid.uuid4().hex
    server = SeaweedFS(data_dir=tmp_path_factory.mktemp("leak-s3"), access_key=f"AKLEAK{unique[:14].upper()}", secret_key=f"sk-leak-{unique}").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token_kubeconfig(kube: Kube, namespace: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A kubeconfig whose only credential is the token of a ServiceAccount bound to cluster-admin."""
    account = "leak-operator"
    binding = f"leak-operator-{namespace}"
    kube.run("create", "serviceaccount", account, "-n", namespace)
    kube.run("create", "clusterrolebinding", binding, "--clusterrole=cluster-admin", f"--serviceaccount={namespace}:{account}")
    token = kube.run("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(Path(kube.kubeconfig).read_text())
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "leak",
        "clusters": [{"name": "leak", "cluster": cluster}],
        "users": [{"name": "leak", "user": {"token": token}}],
        "contexts": [{"name": "leak", "context": {"cluster": "leak", "user": "leak", "namespace": namespace}}],
    }  # fmt: skip
    path = tmp_path_factory.mktemp("leak-kube") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield path, token
    kube.run("delete", "clusterrolebinding", binding, check=False)


@pytest.fixture(scope="module")
def leaky_operator(kube: Kube, crd: None, namespace: str, store: SeaweedFS, token_kubeconfig: tuple[Path, str],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:  # fmt: skip
    kube.run("create", "secret", "generic", POD_SECRET, "-n", namespace,
             f"--from-literal=access-key-id={store.access_key}", f"--from-literal=secret-access-key={store.secret_key}")  # fmt: skip
    env = {
        "TASKACTION_STORAGE_ENDPOINT": store.endpoint,
        "TASKACTION_STORAGE_ACCESS_KEY_ID": store.access_key,
        "TASKACTION_STORAGE_SECRET_ACCESS_KEY": store.secret_key,
        "TASKACTION_POD_STORAGE_ENDPOINT": store.endpoint,
        "TASKACTION_POD_STORAGE_SECRET": POD_SECRET,
        "TASKACTION_STORAGE_WAIT_SECONDS": "1",
        "TASKACTION_LOG_LEVEL": "DEBUG",
        "TASKACTION_KUBE_EVENTS": "all",
    }
    process = OperatorProcess(str(token_kubeconfig[0]), [namespace], tmp_path_factory.mktemp("leak-operator") / "operator.log", env)
    process.start()
    yield process
    kube.run("delete", "taskactions", "--all", "-n", namespace, "--wait=true", "--timeout=90s", check=False)
    process.stop()


def finished(kube: Kube, name: str, namespace: str) -> dict:
    return kube.wait("taskaction", name, namespace, lambda o: is_true(o, "Succeeded") or is_true(o, "Failed"), "finished", timeout=90)


def test_no_secret_in_the_log_events_termination_messages_or_status(
    kube: Kube, namespace: str, store: SeaweedFS, token_kubeconfig: tuple[Path, str], leaky_operator: OperatorProcess, tmp_path: Path
) -> None:
    secrets = {"the S3 access key id": store.access_key, "the S3 secret key": store.secret_key, "the kube token": token_kubeconfig[1]}
    storage = f"s3://{store.bucket}"
    bundle_task = container_template("busybox", ["python3", "-m", "app"])
    bundle_task.metadata.code_bundle_uri = store.url(f"bundles/{uuid.uuid4().hex}/never-uploaded.tar.gz")
    env_dump = container_template("busybox", ["env >&2; exit 1"], command=["sh", "-c"])
    with KubeletStandIn(kube, namespace, tmp_path / "kubelet") as kubelet:
        kube.create(taskaction(container_template("busybox", ["true"]), run="leak-ok", namespace=namespace, storage=storage, labels=SUCCEED))
        kube.create(taskaction(container_template("busybox", ["true"]), run="leak-nobucket", namespace=namespace,
                               storage="s3://no-such-bucket-leaktest", labels=SUCCEED))  # fmt: skip
        kube.create(taskaction(bundle_task, run="leak-bundle", namespace=namespace, storage=storage, labels=RUNNING))
        kube.create(taskaction(env_dump, run="leak-env", namespace=namespace, storage=storage, labels=RUNNING))
        outcomes = {run: finished(kube, f"{run}-a0", namespace) for run in ("leak-ok", "leak-nobucket", "leak-bundle", "leak-env")}

    # The actions did what they do, so that every path wrote what it writes.
    assert is_true(outcomes["leak-ok"], "Succeeded"), outcomes["leak-ok"]["status"]
    assert outcomes["leak-nobucket"]["status"]["errorState"]["code"] == "OutputsReadFailed", outcomes["leak-nobucket"]["status"]
    assert outcomes["leak-bundle"]["status"]["errorState"]["code"] == "BundleNotFound", (outcomes["leak-bundle"]["status"], kubelet.report())
    assert is_true(outcomes["leak-env"], "Failed"), outcomes["leak-env"]["status"]
    # The task printed its env, credentials and all, and its log's tail became its termination message (its own doing)...
    env_pod = kube.get("pod", "leak-env-a0-0", namespace)
    assert store.secret_key in env_pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"], kubelet.report()

    # ... but nothing the operator writes or reads back for others holds a secret.
    pods = [kube.get("pod", f"{run}-a0-0", namespace) for run in ("leak-ok", "leak-nobucket", "leak-bundle")]
    messages = [
        status["state"]["terminated"].get("message", "")
        for pod in pods
        for status in (pod["status"].get("initContainerStatuses") or []) + (pod["status"].get("containerStatuses") or [])
        if "terminated" in status["state"]
    ]
    texts = {
        "the operator's log": leaky_operator.log_path.read_text(errors="replace"),
        "the Events": json.dumps([e.get("message", "") for e in kube.list("events", namespace)]),
        "the pods' termination messages": json.dumps(messages),
        "the TaskActions' status": json.dumps([outcome["status"] for outcome in outcomes.values()]),
    }
    leaks = [f"{what} in {where}" for where, text in texts.items() for what, secret in secrets.items() if secret in text]
    assert leaks == [], leaks
    # What was grepped holds what the failures said.
    assert "BundleNotFound" in texts["the pods' termination messages"], texts["the pods' termination messages"]
    assert "no-such-bucket-leaktest" in texts["the Events"] and "exit code (1)" in texts["the TaskActions' status"], texts
