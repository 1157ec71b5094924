"""taskaction-bootstrap against a real S3 server (SeaweedFS on 127.0.0.1), as an init container would run it.

- s3:// with the FLYTE_AWS_* environment: fetch, verify, unpack, exec; missing object (10), wrong credentials (13),
  checksum mismatch (11);
- an interrupted download: a TCP proxy in front of SeaweedFS cuts the first connection(s) in the middle of a body,
  the bootstrap retries and succeeds; a proxy that always cuts: 20 after the retries;
- a bundle made by the real Flyte SDK (build_code_bundle, dry run) through the pod the operator builds for a generic
  image (no `--tgz` in the container: an init container fetches the bundle into an emptyDir): the init container's
  process, then the task container's (the SDK's a0 WITHOUT --tgz, in the unpacked directory), in order, with the
  pod's env, run by the kubelet stand-in (tests/support/kubelet_standin.py); the task's outputs land where the
  operator reads them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import hashlib
import io
import os
import socket
import struct
import subprocess
import sys
import tarfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flyteidl2.task import common_pb2

from taskaction_operator.bundles.errors import BY_CODE, parse_termination_message
from taskaction_operator.client.manifests import taskaction
from taskaction_operator.reconcile.task import validate
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.storage.outputs import check_outputs
from tests.storage.sdk_tasks import hello
from tests.storage.test_flyte_sdk import (
    DOMAIN,
    NAMESPACE,
    PROJECT,
    ConnectionRecorder,
    expected_prefix,
    pod_settings,
    run_pod,
    sdk_template,
    upload_inputs,
    uploaded_bundle,
)
from tests.support.kubelet_standin import DEFAULT_IMAGES, RUNTIME_IMAGE
from tests.support.seaweedfs import HOST, SeaweedFS

BOOTSTRAP = [sys.executable, "-m", "taskaction_operator.bundles"]
FAST_RETRIES = ["--retries", "4", "--retry-delay", "0.05"]
# A generic task image that does not fetch its own bundle: FROM the runtime target (its ENV: no bytecode written),
# the Flyte SDK added (`a0` on PATH), ENTRYPOINT reset.
SDK_IMAGE = "localhost/hello-tasks:dev"
IMAGES = DEFAULT_IMAGES.with_images({"localhost/hello-tasks:": dataclasses.replace(RUNTIME_IMAGE, entrypoint=())})


@pytest.fixture(scope="module", autouse=True)
def _collect_probe_clients(seaweedfs: SeaweedFS) -> None:
    """SeaweedFS's readiness probe left a synchronous s3fs client behind: collect it now, while no event loop runs in
    this thread (collected later, it closes its session on the wrong loop, noisily)."""
    gc.collect()


def make_bundle(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclasses.dataclass
class Uploaded:
    uri: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@pytest.fixture(scope="module")
def small(seaweedfs: SeaweedFS) -> Uploaded:
    data = make_bundle({"app/__init__.py": b"", "app/main.py": b"def run():\n    return 'ran from s3'\n"})
    uri = seaweedfs.url(f"bundles/{uuid.uuid4().hex}/small.tar.gz")
    seaweedfs.s3fs().pipe_file(uri, data)
    return Uploaded(uri, data)


@pytest.fixture(scope="module")
def big(seaweedfs: SeaweedFS) -> Uploaded:
    """Large enough that a proxy can cut a response in its middle (incompressible: 3 MB on the wire)."""
    data = make_bundle({f"blob{i}.bin": os.urandom(1_000_000) for i in range(3)})
    uri = seaweedfs.url(f"bundles/{uuid.uuid4().hex}/big.tar.gz")
    seaweedfs.s3fs().pipe_file(uri, data)
    return Uploaded(uri, data)


@dataclasses.dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    message: str | None


def bootstrap(tmp_path: Path, *args: str | Path, env: dict[str, str]) -> Run:
    log = tmp_path / f"termination-{uuid.uuid4().hex[:8]}"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLYTE_AWS_", "TASKACTION_"))}
    full_env.update(env)
    full_env["TASKACTION_TERMINATION_LOG"] = str(log)
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([*BOOTSTRAP, *map(str, args)], capture_output=True, text=True, env=full_env, timeout=120)
    return Run(proc.returncode, proc.stdout, proc.stderr, log.read_text() if log.exists() else None)


def assert_failed(run: Run, code: str) -> str:
    parsed = parse_termination_message(run.message)
    assert parsed is not None, (run.code, run.stderr)
    assert parsed[0] is BY_CODE[code] and run.code == BY_CODE[code].exit_code, (run.code, run.message)
    return parsed[1]


def test_fetch_verify_unpack_exec_from_s3(seaweedfs: SeaweedFS, small: Uploaded, tmp_path: Path) -> None:
    dest = tmp_path / "code"
    script = "import os, app.main; print(app.main.run(), os.getcwd(), os.environ['FLYTE_AWS_ENDPOINT'])"
    run = bootstrap(tmp_path, "--bundle", small.uri, "--dest", dest, "--sha256", small.sha256, "--", sys.executable, "-c", script, env=seaweedfs.flyte_env())
    assert run.code == 0, run.stderr
    assert run.stdout.split() == ["ran", "from", "s3", str(dest), seaweedfs.endpoint]
    assert seaweedfs.secret_key not in run.stderr


def test_aws_env_works_too(seaweedfs: SeaweedFS, small: Uploaded, tmp_path: Path) -> None:
    env = {"AWS_ENDPOINT_URL": seaweedfs.endpoint, "AWS_ACCESS_KEY_ID": seaweedfs.access_key, "AWS_SECRET_ACCESS_KEY": seaweedfs.secret_key}
    run = bootstrap(tmp_path, "--bundle", small.uri, "--dest", tmp_path / "code", env=env)
    assert run.code == 0, run.stderr
    assert (tmp_path / "code" / "app" / "main.py").exists()


def test_missing_object_and_bucket(seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    run = bootstrap(tmp_path, "--bundle", seaweedfs.url("bundles/nope.tar.gz"), "--dest", tmp_path / "a", env=seaweedfs.flyte_env())
    assert "does not exist" in assert_failed(run, "BundleNotFound")
    run = bootstrap(tmp_path, "--bundle", "s3://no-such-bucket-xyz/b.tar.gz", "--dest", tmp_path / "b", env=seaweedfs.flyte_env())
    assert_failed(run, "BundleNotFound")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("which", ["secret", "key id"])
def test_wrong_credentials(seaweedfs: SeaweedFS, small: Uploaded, tmp_path: Path, which: str) -> None:
    env = seaweedfs.flyte_env()
    wrong = "wrong-secret-0123456789-abcdef"
    if which == "secret":
        env["FLYTE_AWS_SECRET_ACCESS_KEY"] = wrong
    else:
        env["FLYTE_AWS_ACCESS_KEY_ID"] = "NOSUCHKEYID"
    run = bootstrap(tmp_path, "--bundle", small.uri, "--dest", tmp_path / "code", *FAST_RETRIES, env=env)
    text = assert_failed(run, "BundleAccessDenied")
    assert "access denied" in text
    for output in (run.stderr, run.stdout, run.message or ""):
        assert wrong not in output and seaweedfs.secret_key not in output
    assert "again in" not in run.stderr  # not retried


def test_checksum_mismatch(seaweedfs: SeaweedFS, small: Uploaded, tmp_path: Path) -> None:
    wrong = hashlib.sha256(b"not it").hexdigest()
    run = bootstrap(tmp_path, "--bundle", small.uri, "--dest", tmp_path / "code", "--sha256", wrong, env=seaweedfs.flyte_env())
    assert small.sha256 in assert_failed(run, "BundleChecksumMismatch")
    assert not (tmp_path / "code").exists()


# A proxy that cuts responses in their middle.


class CuttingProxy:
    """127.0.0.1 TCP proxy to SeaweedFS's S3 port. The first `cut` connections (all when cut is None) are reset once
    `after` bytes of responses went through them: a connection dropped in the middle of a body."""

    def __init__(self, upstream_port: int, cut: int | None, after: int = 300_000) -> None:
        self.upstream_port = upstream_port
        self.cut = cut
        self.after = after
        self.connections = 0
        self.cuts = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self.listener = socket.create_server((HOST, 0))
        self.listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
                doomed = self.cut is None or self.connections <= self.cut
            upstream = socket.create_connection((HOST, self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, self.after if doomed else None), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while not self._stop.is_set():
                data = source.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    target.sendall(data[: max(0, limit - sent)])
                    with self._lock:
                        self.cuts += 1
                    # RST, not FIN: the client sees the connection reset in the middle of the body. shutdown() wakes
                    # the other direction's thread blocked in recv() (close() alone would not release the socket).
                    target.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    for s, how in ((target, socket.SHUT_RD), (source, socket.SHUT_RDWR)):
                        with contextlib.suppress(OSError):
                            s.shutdown(how)
                    break
                target.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (source, target):
                with contextlib.suppress(OSError):
                    s.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.listener.close()
        for s in self._sockets:
            with contextlib.suppress(OSError):
                s.close()


@contextlib.contextmanager
def cutting_proxy(seaweedfs: SeaweedFS, cut: int | None) -> Iterator[CuttingProxy]:
    proxy = CuttingProxy(seaweedfs.s3_port, cut)
    try:
        yield proxy
    finally:
        proxy.close()


def proxied_env(seaweedfs: SeaweedFS, proxy: CuttingProxy) -> dict[str, str]:
    return {**seaweedfs.flyte_env(), "FLYTE_AWS_ENDPOINT": proxy.endpoint}


def test_interrupted_download_is_retried(seaweedfs: SeaweedFS, big: Uploaded, tmp_path: Path) -> None:
    with cutting_proxy(seaweedfs, cut=2) as proxy:
        run = bootstrap(
            tmp_path, "--bundle", big.uri, "--dest", tmp_path / "code", "--sha256", big.sha256, "--concurrency", "1", *FAST_RETRIES,
            env=proxied_env(seaweedfs, proxy),
        )
    assert run.code == 0, run.stderr
    assert proxy.cuts >= 1 and proxy.connections > proxy.cuts
    assert "again in" in run.stderr  # a retry was logged
    assert sorted(os.listdir(tmp_path / "code")) == [".taskaction-bundle", "blob0.bin", "blob1.bin", "blob2.bin"]


def test_always_interrupted_download_fails_retryable(seaweedfs: SeaweedFS, big: Uploaded, tmp_path: Path) -> None:
    with cutting_proxy(seaweedfs, cut=None) as proxy:
        run = bootstrap(tmp_path, "--bundle", big.uri, "--dest", tmp_path / "code", *FAST_RETRIES, env=proxied_env(seaweedfs, proxy))
    text = assert_failed(run, "BundleDownloadFailed")
    assert BY_CODE["BundleDownloadFailed"].retryable
    assert "gave up after 4 tries" in text, text
    assert proxy.cuts >= 4
    assert not (tmp_path / "code").exists() and os.listdir(tmp_path) == [os.path.basename(run_log(tmp_path))]


def run_log(tmp_path: Path) -> str:
    (log,) = [p for p in tmp_path.iterdir() if p.name.startswith("termination-")]
    return str(log)


# The real Flyte SDK's bundle through the pod the operator builds for a generic image.


async def test_sdk_bundle_through_a_generic_image_pod(seaweedfs: SeaweedFS, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    bundle, remote = await uploaded_bundle(seaweedfs, tmp_path / "out")
    assert Path(bundle.tgz).name.startswith("fast") and remote.endswith(".tar.gz")
    template = sdk_template(hello.double, bundle, remote)
    # A generic image: the container does not fetch the bundle (a0 without --tgz/--dest); the template still names it.
    args = list(template.container.args)
    for flag in ("--tgz", "--dest"):
        index = args.index(flag)
        del args[index : index + 2]
    del template.container.args[:]
    template.container.args.extend(args)
    template.container.image = SDK_IMAGE
    assert template.metadata.code_bundle_uri == remote

    node = tmp_path / "node"
    control_plane = ConnectionRecorder()
    settings = pod_settings(seaweedfs, control_plane, bootstrap_cache_host_path="/var/lib/taskaction/bundles")
    try:
        for attempt in ("first", "second"):  # the second pod on the node finds the bundle in the node's cache
            run = f"r{uuid.uuid4().hex[:12]}"
            body = taskaction(template, run=run, namespace=NAMESPACE, project=PROJECT, domain=DOMAIN, storage=f"s3://{seaweedfs.bucket}")
            body["metadata"]["uid"] = str(uuid.uuid4())
            ta, decoded = validate(body)
            pod = build_pod(ta, decoded, 1, settings)
            await upload_inputs(seaweedfs, body["spec"]["inputUri"], x=21)
            (init,) = pod["spec"]["initContainers"]
            (task,) = pod["spec"]["containers"]
            assert init["image"] == settings.bootstrap_image and "command" not in init  # the runtime image's ENTRYPOINT

            # The init container (taskaction-bootstrap), then the task container in the unpacked directory.
            record = await asyncio.to_thread(run_pod, pod, tmp_path / attempt, seaweedfs, node_dir=node, images=IMAGES)
            fetched = record.container(init["name"])
            assert fetched.exit_code == 0, record.report()
            assert ("from the cache" in fetched.stderr()) == (attempt == "second"), fetched.stderr()
            assert record.sandbox is not None
            code_dir = Path(record.sandbox.localize(task, task["workingDir"]))
            assert sorted(os.listdir(code_dir)) == [".taskaction-bundle", "__init__.py", "hello.py"]
            assert record.container(task["name"]).exit_code == 0, record.report()

            prefix = expected_prefix(body)
            outputs = common_pb2.Outputs.FromString(seaweedfs.s3fs().cat_file(f"{prefix}/outputs.pb"))
            assert [(lit.name, lit.value.scalar.primitive.integer) for lit in outputs.literals] == [("o0", 42)]
            check = await check_outputs(prefix, seaweedfs.settings())
            assert check.storage_error is None and check.error is None and check.outputs_found
    finally:
        control_plane.close()
    assert control_plane.connections == 0
