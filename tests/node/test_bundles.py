"""A generic image (Debian + python3: no Flyte SDK, no taskaction code) runs code from a code bundle on the real node:
the operator's init container (the runtime image's taskaction-bootstrap) fetches it from S3 into an emptyDir and the
task runs from there, the next pod of the bundle from the node's cache (a hostPath only the init container mounts).
A missing or corrupt bundle ends the action with the bootstrap's named errorState, read from the init container's
termination message as the kubelet really reports it."""

from __future__ import annotations

import hashlib
import io
import tarfile
import uuid
from pathlib import Path

from taskaction_operator.client.manifests import container_template, taskaction
from taskaction_operator.pods.bundle_init import BOOTSTRAP_CONTAINER, BUNDLE_CACHE_VOLUME, CODE_DIR
from tests.node.conftest import Images
from tests.support.kube import Kube, is_true
from tests.support.seaweedfs import SeaweedFS

# The task's working directory must be the emptyDir the init container unpacked the bundle into.
APP = f'''import os, sys
print("bundle app ran in the code dir:", os.path.samefile(os.getcwd(), {CODE_DIR!r}), "with", sys.argv[1:], "as uid", os.getuid())
'''.encode()
FINISH_TIMEOUT = 120  # first pod on a cold node: image unpack, sandbox, bootstrap, task


def bundle_bytes() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in (("app/__init__.py", b""), ("app/__main__.py", APP)):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def run_bundle(kube: Kube, namespace: str, images: Images, run: str, bundle_uri: str) -> dict:
    template = container_template(images.base, ["app", "hello"], command=["python3", "-m"])
    template.metadata.code_bundle_uri = bundle_uri
    kube.create(taskaction(template, run=run, namespace=namespace))
    return kube.wait("taskaction", f"{run}-a0", namespace, lambda o: is_true(o, "Succeeded") or is_true(o, "Failed"),
                     "finished", timeout=FINISH_TIMEOUT)


def test_a_generic_image_runs_the_bundle_fetched_by_the_init_container(
    kube: Kube, operator, namespace: str, images: Images, seaweedfs: SeaweedFS
) -> None:
    uri = seaweedfs.url(f"bundles/{uuid.uuid4().hex}/app.tar.gz")
    seaweedfs.s3fs().pipe_file(uri, bundle_bytes())

    ta = run_bundle(kube, namespace, images, "gen-ok", uri)
    assert is_true(ta, "Succeeded"), ta["status"]
    pod = kube.get("pod", "gen-ok-a0-0", namespace)
    assert pod["spec"]["nodeName"] == "taskaction-node"
    (init,) = pod["status"]["initContainerStatuses"]
    assert init["name"] == BOOTSTRAP_CONTAINER and init["image"].endswith(images.runtime.split("/", 1)[1])
    assert init["state"]["terminated"]["exitCode"] == 0
    (main,) = pod["status"]["containerStatuses"]
    assert main["state"]["terminated"]["exitCode"] == 0
    # The task's stdout, through the API server from the kubelet (its API on the node IP).
    logs = kube.run("logs", "gen-ok-a0-0", "-n", namespace, "-c", pod["spec"]["containers"][0]["name"]).stdout
    assert "bundle app ran in the code dir: True with ['hello'] as uid 0" in logs, logs


def test_a_missing_bundle_is_bundle_not_found(kube: Kube, operator, namespace: str, images: Images, seaweedfs: SeaweedFS) -> None:
    uri = seaweedfs.url(f"bundles/{uuid.uuid4().hex}/never-uploaded.tar.gz")
    ta = run_bundle(kube, namespace, images, "gen-missing", uri)
    assert is_true(ta, "Failed"), ta["status"]
    error = ta["status"]["errorState"]
    assert (error["code"], error["kind"]) == ("BundleNotFound", "USER"), error
    assert "never-uploaded.tar.gz" in error["message"]


def test_a_corrupt_bundle_is_bundle_unsafe(kube: Kube, operator, namespace: str, images: Images, seaweedfs: SeaweedFS) -> None:
    uri = seaweedfs.url(f"bundles/{uuid.uuid4().hex}/corrupt.tar.gz")
    seaweedfs.s3fs().pipe_file(uri, bundle_bytes()[:-40] + b"\0" * 40)  # the gzip trailer (CRC, length) destroyed
    ta = run_bundle(kube, namespace, images, "gen-corrupt", uri)
    assert is_true(ta, "Failed"), ta["status"]
    error = ta["status"]["errorState"]
    assert (error["code"], error["kind"]) == ("BundleUnsafe", "USER"), error


def test_the_second_pod_of_a_bundle_takes_it_from_the_node_cache_which_only_the_bootstrap_mounts(
    kube: Kube, operator, namespace: str, images: Images, seaweedfs: SeaweedFS, bundle_cache: Path
) -> None:
    archive = bundle_bytes()
    uri = seaweedfs.url(f"bundles/{uuid.uuid4().hex}/app.tar.gz")
    seaweedfs.s3fs().pipe_file(uri, archive)
    fetched = []
    for run in ("gen-cache-1", "gen-cache-2"):
        ta = run_bundle(kube, namespace, images, run, uri)
        assert is_true(ta, "Succeeded"), ta["status"]
        fetched.append(kube.run("logs", f"{run}-a0-0", "-n", namespace, "-c", BOOTSTRAP_CONTAINER).stdout)
    assert "from the cache" not in fetched[0] and "from the cache" in fetched[1], fetched
    # The archive as it came from the store, under its sha256, in the host's directory.
    assert (bundle_cache / "blobs" / f"sha256-{hashlib.sha256(archive).hexdigest()}").read_bytes() == archive
    pod = kube.get("pod", "gen-cache-2-a0-0", namespace)
    (init,) = pod["spec"]["initContainers"]
    assert any(m["name"] == BUNDLE_CACHE_VOLUME for m in init["volumeMounts"])
    assert not any(m["name"] == BUNDLE_CACHE_VOLUME for c in pod["spec"]["containers"] for m in c.get("volumeMounts") or [])
