"""THE STAND-IN FOR THE KUBELET: the only code in this repository that runs a pod's containers.

Why it exists. The test cluster has no kubelet: kwok plays the nodes and only moves pod status along
(e2e/kwok/stages.yaml), no container ever runs. The project's rule is that until task pods really run on a node, tests
run each pod's container commands as local processes with the pod's env, here and nowhere else, so that there is
one place that says what is and is not simulated. A test that needs a pod to really run its code uses this module.

What it does, for one pod (`run_pod_locally`, or `KubeletStandIn` for the pods of a namespace on the real cluster):

- volumes as local directories (`PodSandbox`): emptyDir one per pod, hostPath one per node directory (shared by the
  pods given the same `node_dir`; DirectoryOrCreate and "" create it, Directory must exist), secret / configMap /
  downwardAPI / projected written as files from the given data; a projected serviceAccountToken of an audience of its
  own is a real token of the pod's ServiceAccount, bound to the pod (the cluster mode asks TokenRequest for it as the
  kubelet does), one without an audience (the API server's) stays empty: see below;
- mount paths rewritten to those directories wherever they stand in the container's command, args, workingDir and
  env values
  (whole path components only: `/var/run/x`, `/var/run/x/y`, `--dest=/var/run/x`, `cd /var/run/x && ...`); the
  container's terminationMessagePath (API default /dev/termination-log) is one more such mount, of a file;
- the env exactly as the kubelet makes it: envFrom (secretRef / configMapRef, prefix, optional) then env in order,
  later duplicates winning; `value` with $(VAR) expansion; valueFrom fieldRef (metadata.name / namespace / uid /
  labels['k'] / annotations['k'], spec.nodeName / serviceAccountName, status.podIP / hostIP), secretKeyRef and
  configMapKeyRef from the given Secret / ConfigMap data, honouring `optional`. A missing non-optional reference is
  the kubelet's CreateContainerConfigError: nothing runs;
- the image modelled by an explicit `ImageEnvironment`: image name prefix -> ENTRYPOINT, CMD and ENV; every image's
  ENV has PATH with this venv's bin directory first (where the Flyte SDK's `a0` and `taskaction-bootstrap` live) and
  HOME (a directory of the pod's, also the working directory when the container names none); the runtime image adds
  what the Dockerfile sets. An image not in the mapping fails loudly (`ImageNotModelled`) instead of running
  something else;
- init containers one after the other, then the main containers together; a sidecar (an init container with
  restartPolicy Always) is started in its turn and not waited for, and once the main containers ended (or the pod
  failed) the sidecars get SIGTERM, last started first, and SIGKILL after terminationGracePeriodSeconds (30); a
  sidecar's exit does not decide the pod's phase, and the pod's end is reported once they stopped (as the kubelet
  does since 1.27). Each container is a subprocess (its own process group,
  killed with its pid 1 as a container's processes are) running command (else the image's ENTRYPOINT) + args (else,
  without a command, the image's CMD), $(VAR) expanded; stdout, stderr and the interleaved log each to a file
  (the streams are read apart, as a runtime reads them: lines of different streams may interleave either way);
- the termination message read back from the container's file (at most 4096 bytes); with FallbackToLogsOnError, the
  last 80 lines (2048 bytes) of the log when the file is empty and the exit code non-zero. A process that is told the
  file's path by an argument finds it by the rewriting above; taskaction-bootstrap, which opens the fixed
  /dev/termination-log, is told by $TASKACTION_TERMINATION_LOG (its documented override, bundles/errors.py): the ONE
  variable the stand-in adds to a container's env besides the image's PATH and HOME, because a file cannot be
  bind-mounted over /dev/termination-log without a container;
- exit codes as a container runtime reports them: a signal is 128+signal (SIGKILL: 137), a command that cannot be
  started is 128 with reason StartError; spec.activeDeadlineSeconds kills the pod (reason DeadlineExceeded).

Nothing else goes into the env: no variables of the test process, no service-link variables (KUBERNETES_SERVICE_*)
and no service-account token for the API server (only ones of other audiences, which it refuses), so a task process
has no route to the API server; storage credentials, control-plane
endpoints and the like reach a process only through its pod spec, i.e. through the operator's settings.

What it does not do: no images (every "image" is this machine with this venv), no isolation (processes run as the
test's user, see the host's filesystem and network), no cgroups or resource limits (so no OOMKilled), no probes,
no restarts (restartPolicy is ignored: a container runs once, a sidecar too), no ephemeral containers, no image
pulls, readOnly mounts are writable. A program an image holds at a fixed path (an ENTRYPOINT or command such as
/bin/flyte-copilot) runs as the local program the image's model names for it (`Image.binaries`).

`KubeletStandIn` (the cluster mode) watches (kubectl get --watch) the pods of one namespace that carry a label
selector (default `sim.taskaction.dev/outcome=running`: kwok keeps such pods Running and never touches them again;
a selector matching pods kwok ends by itself would race with it) and, once per pod that kwok has made Running on one
of its nodes:
1. claims it: writes its container statuses with the stand-in's containerIDs (`kubelet-standin://...`), as a
   kubelet reports the containers it created; a claimed pod is never run again, by this stand-in or a later one;
2. fetches the Secrets and ConfigMaps the pod names, runs it as above in `<workdir>/<pod>-<uid8>/` (hostPath volumes
   under `<workdir>/nodes/<node>/`), pods concurrently, each in a thread of its own (a parent's pod may wait for its
   children's);
3. writes the end of it through the status subresource (a JSON merge patch: lists replaced whole) as a kubelet does:
   phase Succeeded (every container exited 0) or Failed, containerStatuses and initContainerStatuses terminated
   (exitCode, reason Completed|Error, message, startedAt, finishedAt, containerID), Ready / ContainersReady /
   PodReadyToStartContainers False, the other conditions kept.
A pod deleted while it runs has its processes killed and no status written (`record.deleted`). Leaving the block
kills whatever still runs (those pods stay Running, claimed) and raises if the stand-in itself failed (a pod that
fails is no failure of the stand-in). Every pod it started is in `records`:

    with KubeletStandIn(kube, namespace, tmp_path) as kubelet:       # or: async with
        kube.create(...)                        # TaskActions labelled sim.taskaction.dev/outcome=running
        record = kubelet.wait_for("run-a0-0")   # its PodRecord, once the stand-in is done with the pod
    record.exit_codes                           # {"run-a0-0": 0}, init containers first
    record.container("run-a0-0").stderr()       # also .stdout(), .log(), .stdout_path, .message, .argv
    kubelet.records, kubelet.records_of("run-a0-0"), kubelet.report()   # report(): for assertion messages
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from taskaction_operator.api.times import rfc3339, utcnow
from taskaction_operator.bundles.errors import DEFAULT_TERMINATION_LOG, TERMINATION_LOG_ENV
from tests.support.processes import DIE_WITH_PARENT
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from tests.support.kube import Kube

# The kubelet's limits (pkg/kubelet/container: MaxContainerTerminationMessage*).
MAX_TERMINATION_MESSAGE_BYTES = 4096
FALLBACK_LOG_LINES = 80
FALLBACK_LOG_BYTES = 2048
START_ERROR_EXIT_CODE = 128
CONTAINER_ID_SCHEME = "kubelet-standin"
DEADLINE_EXCEEDED = "DeadlineExceeded"
DEFAULT_SELECTOR = "sim.taskaction.dev/outcome=running"
VENV_BIN = Path(sys.executable).parent
IMAGE_PATH = os.pathsep.join([str(VENV_BIN), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"])


DEFAULT_GRACE_SECONDS = 30  # the API server's default terminationGracePeriodSeconds


class ContainerConfigError(Exception):
    """The kubelet's CreateContainerConfigError: the pod names a Secret, ConfigMap, key or field it cannot resolve."""


class ImageNotModelled(Exception):
    """The pod names an image (or a volume type, or a feature) this stand-in has no model of: the test must add one."""


# Images.


@dataclasses.dataclass(frozen=True)
class Image:
    """What the stand-in knows of an image: the ENTRYPOINT, CMD and ENV (besides PATH and HOME) it was built with."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    binaries: Mapping[str, str] = dataclasses.field(default_factory=dict)  # path in the image -> the local program


@dataclasses.dataclass(frozen=True)
class ImageEnvironment:
    """Image name prefix -> Image (the longest matching prefix wins); the ENV every image has: PATH (this venv's bin
    first) and HOME, the pod's home directory."""

    images: Mapping[str, Image]
    path: str = IMAGE_PATH

    def image(self, name: str) -> Image:
        prefixes = [prefix for prefix in self.images if name.startswith(prefix)]
        if not prefixes:
            raise ImageNotModelled(f"image {name!r} is not in the stand-in's ImageEnvironment ({sorted(self.images)})")
        return self.images[max(prefixes, key=len)]

    def env(self, image: Image, home: Path) -> dict[str, str]:
        return {"PATH": self.path, "HOME": str(home), **image.env}

    def with_images(self, images: Mapping[str, Image]) -> ImageEnvironment:
        return dataclasses.replace(self, images={**self.images, **images})


# The Dockerfile's target `runtime`.
RUNTIME_IMAGE = Image(entrypoint=("taskaction-bootstrap",), env={"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
DEFAULT_IMAGES = ImageEnvironment(
    {
        "ghcr.io/flyteorg/flyte:": Image(),  # the Flyte SDK's default image: no ENTRYPOINT, `a0` on PATH
        "ghcr.io/taskaction-operator/taskaction-runtime:": RUNTIME_IMAGE,  # Settings.bootstrap_image's default
        "localhost/taskaction-runtime:": RUNTIME_IMAGE,  # as e2e/build-images.sh tags it
        "python:": Image(cmd=("python3",)),  # docker.io/library/python: no ENTRYPOINT, CMD python3
        "busybox": Image(cmd=("sh",)),
    }
)


# The environment, as kubelet_pods.go makeEnvironmentVariables builds it.

_FIELD_WITH_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


def field_value(pod: Mapping[str, Any], field_path: str) -> str:
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
    }
    if field_path in simple:
        return simple[field_path] or ""
    keyed = _FIELD_WITH_KEY.match(field_path)
    if keyed:
        return (meta.get(keyed.group(1)) or {}).get(keyed.group(2), "")
    raise ImageNotModelled(f"fieldRef {field_path!r} is not modelled by the stand-in")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined variables are replaced, others left as written; $$ is a literal $."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and text.find(")", i) != -1:
            end = text.find(")", i)
            name = text[i + 2 : end]
            out.append(env[name] if name in env else text[i : end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _referenced(
    kind: str, ref: Mapping[str, Any], data: Mapping[str, Mapping[str, str]], key: str | None = None
) -> str | Mapping[str, str] | None:
    """The referenced object's data (or one key of it); None when absent and optional."""
    name, optional = ref.get("name", ""), bool(ref.get("optional"))
    if name not in data:
        if optional:
            return None
        raise ContainerConfigError(f'{kind} "{name}" not found')
    if key is None:
        return data[name]
    if key not in data[name]:
        if optional:
            return None
        raise ContainerConfigError(f'couldn\'t find key {key} in {kind} {name}')
    return data[name][key]


def resolve_env(
    container: Mapping[str, Any],
    pod: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    config_maps: Mapping[str, Mapping[str, str]],
) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "secretRef" in source:
            values = _referenced("secret", source["secretRef"], secrets)
        elif "configMapRef" in source:
            values = _referenced("configmap", source["configMapRef"], config_maps)
        else:
            raise ImageNotModelled(f"envFrom source {source} is not modelled by the stand-in")
        env.update({source.get("prefix", "") + k: v for k, v in (values or {}).items()})
    for var in container.get("env") or []:
        value_from = var.get("valueFrom")
        if not value_from:
            env[var["name"]] = expand(var.get("value", ""), env)
            continue
        value = _value_from(value_from, pod, secrets, config_maps)
        if value is not None:
            env[var["name"]] = value
    return env


def _value_from(
    value_from: Mapping[str, Any],
    pod: Mapping[str, Any],
    secrets: Mapping[str, Mapping[str, str]],
    config_maps: Mapping[str, Mapping[str, str]],
) -> str | None:
    if "fieldRef" in value_from:
        return field_value(pod, value_from["fieldRef"]["fieldPath"])
    if "secretKeyRef" in value_from:
        ref = value_from["secretKeyRef"]
        return _referenced("secret", ref, secrets, ref["key"])  # type: ignore[return-value]
    if "configMapKeyRef" in value_from:
        ref = value_from["configMapKeyRef"]
        return _referenced("configmap", ref, config_maps, ref["key"])  # type: ignore[return-value]
    raise ImageNotModelled(f"env source {value_from} is not modelled by the stand-in (no resources here)")


# Volumes and paths.


def _write_files(directory: Path, files: Mapping[str, str]) -> None:
    for relative, content in files.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


def _keyed_files(data: Mapping[str, str] | None, items: list[Mapping[str, Any]] | None) -> dict[str, str]:
    if data is None:
        return {}
    if not items:
        return dict(data)
    return {item["path"]: data[item["key"]] for item in items if item["key"] in data}


class PodSandbox:
    """What the kubelet prepares for one pod, as local directories under `root`: its volumes (hostPath ones under
    `node_dir`, shared by the pods of that "node"), its HOME, one directory per container (termination-log, stdout,
    stderr, log)."""

    def __init__(
        self,
        pod: Mapping[str, Any],
        root: Path,
        node_dir: Path,
        secrets: Mapping[str, Mapping[str, str]],
        config_maps: Mapping[str, Mapping[str, str]],
        tokens: Mapping[str, str] | None = None,
    ) -> None:
        self.pod = pod
        self.root = root
        self.node_dir = node_dir
        self.secrets = secrets
        self.config_maps = config_maps
        self.tokens = tokens or {}  # audience -> the pod's token for it
        self.home = root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.volumes = {volume["name"]: self._make_volume(volume) for volume in (pod.get("spec") or {}).get("volumes") or []}

    def container_dir(self, name: str) -> Path:
        directory = self.root / "containers" / name
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def termination_file(self, container: Mapping[str, Any]) -> Path:
        return self.container_dir(container["name"]) / "termination-log"

    def _make_volume(self, volume: Mapping[str, Any]) -> Path:
        if "hostPath" in volume:
            return self._host_path(volume["hostPath"])
        directory = self.root / "volumes" / volume["name"]
        directory.mkdir(parents=True, exist_ok=True)
        if "emptyDir" in volume:
            pass
        elif "secret" in volume:
            source = volume["secret"]
            data = _referenced("secret", {"name": source.get("secretName", ""), "optional": source.get("optional")}, self.secrets)
            _write_files(directory, _keyed_files(data, source.get("items")))  # type: ignore[arg-type]
        elif "configMap" in volume:
            data = _referenced("configmap", volume["configMap"], self.config_maps)
            _write_files(directory, _keyed_files(data, volume["configMap"].get("items")))  # type: ignore[arg-type]
        elif "downwardAPI" in volume:
            _write_files(directory, self._downward_files(volume["downwardAPI"].get("items")))
        elif "projected" in volume:
            for source in volume["projected"].get("sources") or []:
                _write_files(directory, self._projected_files(source))
        else:
            raise ImageNotModelled(f"volume {volume['name']!r} ({sorted(volume)}) is not modelled by the stand-in")
        return directory

    def _host_path(self, host_path: Mapping[str, Any]) -> Path:
        directory = self.node_dir / host_path["path"].strip("/")
        kind = host_path.get("type") or ""
        if kind in ("", "DirectoryOrCreate"):
            directory.mkdir(parents=True, exist_ok=True)
        elif kind == "Directory":
            if not directory.is_dir():
                raise ContainerConfigError(f"hostPath type check failed: {host_path['path']} is not a directory")
        else:
            raise ImageNotModelled(f"hostPath type {kind!r} is not modelled by the stand-in")
        return directory

    def _downward_files(self, items: list[Mapping[str, Any]] | None) -> dict[str, str]:
        files = {}
        for item in items or []:
            if "fieldRef" not in item:
                raise ImageNotModelled(f"downwardAPI item {item} is not modelled by the stand-in")
            files[item["path"]] = field_value(self.pod, item["fieldRef"]["fieldPath"])
        return files

    def _projected_files(self, source: Mapping[str, Any]) -> dict[str, str]:
        if "serviceAccountToken" in source:
            audience = source["serviceAccountToken"].get("audience")
            if audience in self.tokens:
                return {source["serviceAccountToken"]["path"]: self.tokens[audience]}
            return {}  # no credentials for the API server: see the module's docstring
        if "secret" in source:
            ref = {"name": source["secret"].get("name", ""), "optional": True}
            return _keyed_files(_referenced("secret", ref, self.secrets), source["secret"].get("items"))  # type: ignore[arg-type]
        if "configMap" in source:
            ref = {"name": source["configMap"].get("name", ""), "optional": True}
            return _keyed_files(_referenced("configmap", ref, self.config_maps), source["configMap"].get("items"))  # type: ignore[arg-type]
        if "downwardAPI" in source:
            return self._downward_files(source["downwardAPI"].get("items"))
        raise ImageNotModelled(f"projected source {sorted(source)} is not modelled by the stand-in")

    def mounts(self, container: Mapping[str, Any]) -> dict[str, Path]:
        """Path in the container -> local path: its volume mounts and its termination message file."""
        mounts = {
            mount["mountPath"].rstrip("/") or "/": self.volumes[mount["name"]] / mount.get("subPath", "")
            for mount in container.get("volumeMounts") or []
        }
        mounts[container.get("terminationMessagePath") or DEFAULT_TERMINATION_LOG] = self.termination_file(container)
        return mounts

    def localize(self, container: Mapping[str, Any], text: str) -> str:
        """`text` with every mount path (a whole path, or the start of a longer one) replaced by its local path."""
        mounts = self.mounts(container)
        alternatives = "|".join(re.escape(path) for path in sorted(mounts, key=len, reverse=True))
        pattern = re.compile(rf"(?<![\w.\-/])({alternatives})(?=$|[/\s'\";:|&<>()=,])")
        return pattern.sub(lambda match: str(mounts[match.group(1)]), text)


# Running containers.


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclasses.dataclass
class ContainerRecord:
    """One container's run. `exit_code` is None when it never started (`waiting_reason` says why)."""

    name: str
    image: str
    init: bool
    directory: Path
    argv: list[str] = dataclasses.field(default_factory=list)
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    waiting_reason: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    container_id: str = dataclasses.field(default_factory=lambda: f"{CONTAINER_ID_SCHEME}://{uuid.uuid4().hex}")

    @property
    def stdout_path(self) -> Path:
        return self.directory / "stdout"

    @property
    def stderr_path(self) -> Path:
        return self.directory / "stderr"

    @property
    def log_path(self) -> Path:
        """stdout and stderr interleaved, as `kubectl logs` shows them."""
        return self.directory / "log"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def state(self) -> dict[str, Any]:
        if self.exit_code is None:
            return {"waiting": {"reason": self.waiting_reason or "PodInitializing", **({"message": self.message} if self.message else {})}}
        terminated = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": self.container_id,
        }
        if self.message:
            terminated["message"] = self.message
        return {"terminated": terminated}

    def status(self) -> dict[str, Any]:
        """The entry of containerStatuses / initContainerStatuses a kubelet writes for it."""
        status = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
            "state": self.state(),
        }
        if self.exit_code is not None:
            status["containerID"] = self.container_id
        return status

    def report(self) -> str:
        head = f"  {'init ' if self.init else ''}container {self.name}: exit {self.exit_code} {self.reason or self.waiting_reason}"
        return f"{head} {self.message[:500]!r}\n    argv: {self.argv}\n    log ({self.log_path}):\n{_tail(self.log_path)}"


@dataclasses.dataclass
class PodRecord:
    """One pod as the stand-in ran it: init containers first, in order, then the main containers."""

    name: str
    namespace: str
    uid: str
    workdir: Path
    containers: list[ContainerRecord]
    phase: str = "Pending"
    reason: str = ""
    message: str = ""
    deleted: bool = False
    error: str | None = None  # the stand-in's own failure (not the pod's)
    sandbox: PodSandbox | None = dataclasses.field(default=None, repr=False)
    done: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)

    @property
    def exit_codes(self) -> dict[str, int | None]:
        return {c.name: c.exit_code for c in self.containers}

    @property
    def succeeded(self) -> bool:
        return self.phase == "Succeeded"

    def container(self, name: str) -> ContainerRecord:
        (found,) = [c for c in self.containers if c.name == name]
        return found

    def main_containers(self) -> list[ContainerRecord]:
        return [c for c in self.containers if not c.init]

    def report(self) -> str:
        state = f"{self.phase}{' (deleted while running)' if self.deleted else ''} {self.reason} {self.message}".strip()
        lines = [f"pod {self.namespace}/{self.name} ({self.workdir}): {state}"]
        if self.error:
            lines.append(f"  STAND-IN ERROR: {self.error}")
        return "\n".join(lines + [c.report() for c in self.containers])


class _Process:
    """One container's pid 1: its own process group, its output pumped to stdout, stderr and the interleaved log."""

    def __init__(self, argv: list[str], cwd: str, env: dict[str, str], record: ContainerRecord) -> None:
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=DIE_WITH_PARENT,
        )
        self._log_lock = threading.Lock()
        self._log = open(record.log_path, "ab")  # noqa: SIM115 (closed in wait)
        self._pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, record.stdout_path), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, record.stderr_path), daemon=True),
        ]
        for pump in self._pumps:
            pump.start()

    def _pump(self, stream: Any, path: Path) -> None:
        with open(path, "ab") as out:
            while chunk := os.read(stream.fileno(), 65536):
                out.write(chunk)
                out.flush()
                with self._log_lock:
                    if not self._log.closed:
                        self._log.write(chunk)
                        self._log.flush()
        stream.close()

    def wait(self) -> int:
        code = self.proc.wait()
        self.kill()  # what is left of the container's processes dies with its pid 1
        for pump in self._pumps:
            pump.join(timeout=10)  # a process that left the group may hold the pipes: not waited for
        with self._log_lock:
            self._log.close()
        return 128 - code if code < 0 else code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def terminate(self, grace_seconds: float) -> None:
        """SIGTERM, then SIGKILL once the grace is over (wait() then reports how it ended)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            self.kill()


def termination_message(container: Mapping[str, Any], record: ContainerRecord, file: Path) -> str:
    data = file.read_bytes()[:MAX_TERMINATION_MESSAGE_BYTES] if file.exists() else b""
    fallback = container.get("terminationMessagePolicy") == "FallbackToLogsOnError"
    if not data and fallback and record.exit_code != 0 and record.log_path.exists():
        lines = record.log_path.read_bytes().splitlines(keepends=True)[-FALLBACK_LOG_LINES:]
        data = b"".join(lines)[-FALLBACK_LOG_BYTES:]
    return data.decode(errors="replace")


class PodRun:
    """Runs one pod's containers in a PodSandbox; `kill` (from any thread) ends it."""

    def __init__(self, pod: Mapping[str, Any], workdir: Path, *, node_dir: Path, images: ImageEnvironment) -> None:
        self.pod = pod
        self.workdir = workdir
        self.node_dir = node_dir
        self.images = images
        meta, spec = pod["metadata"], pod["spec"]
        self.record = PodRecord(meta["name"], meta.get("namespace", ""), meta.get("uid", ""), workdir, [])
        self._lock = threading.Lock()
        self._live: list[_Process] = []
        self._killed_because: str | None = None
        for init, key in ((True, "initContainers"), (False, "containers")):
            for container in spec.get(key) or []:
                directory = workdir / "containers" / container["name"]
                self.record.containers.append(ContainerRecord(container["name"], container.get("image", ""), init, directory))

    def kill(self, reason: str) -> None:
        with self._lock:
            self._killed_because = self._killed_because or reason
            for process in self._live:
                process.kill()

    @property
    def killed_because(self) -> str | None:
        return self._killed_because

    def run(
        self,
        secrets: Mapping[str, Mapping[str, str]],
        config_maps: Mapping[str, Mapping[str, str]],
        deadline_seconds: float | None = None,
        tokens: Mapping[str, str] | None = None,
    ) -> PodRecord:
        """To the end of the pod; spec.activeDeadlineSeconds (or `deadline_seconds`, the shorter) kills it."""
        deadlines = [float(d) for d in (self.pod["spec"].get("activeDeadlineSeconds"), deadline_seconds) if d]
        timer = threading.Timer(min(deadlines), self.kill, args=(DEADLINE_EXCEEDED,)) if deadlines else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            self.record.sandbox = PodSandbox(self.pod, self.workdir, self.node_dir, secrets, config_maps, tokens)
            self._run_all()
        except ContainerConfigError as exc:  # from the volumes: nothing started
            self._config_error(self.record.containers, str(exc))
        finally:
            if timer:
                timer.cancel()
        return self.record

    def _run_all(self) -> None:
        record, spec = self.record, self.pod["spec"]
        record.phase = "Running"
        inits = spec.get("initContainers") or []
        sidecars: list[tuple[Mapping[str, Any], ContainerRecord, _Process | None]] = []
        try:
            for group in [[init] for init in inits] + [spec.get("containers") or []]:
                if group[0] in inits and group[0].get("restartPolicy") == "Always":
                    started = self._start_all(group)
                    if started is None:
                        record.phase = "Pending"
                        break
                    sidecars += started
                    continue
                outcome = self._run_together(group)
                if outcome != "Succeeded":
                    record.phase = outcome
                    break
            else:
                record.phase = "Succeeded"
        finally:
            grace = float(spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))
            for container, sidecar, process in reversed(sidecars):
                if process is not None:
                    process.terminate(grace)
                self._finish(container, sidecar, process)
        if self._killed_because == DEADLINE_EXCEEDED:
            record.reason, record.message = DEADLINE_EXCEEDED, "Pod was active on the node longer than the specified deadline"

    def _config_error(self, records: list[ContainerRecord], message: str) -> None:
        for container in records:
            container.waiting_reason, container.message = "CreateContainerConfigError", message
        self.record.phase = "Pending"
        self.record.reason, self.record.message = "CreateContainerConfigError", message

    def _start_all(self, containers: list[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], ContainerRecord, _Process | None]] | None:
        """Start them together; None on a config error (the kubelet would never start that container, so the pod would
        never end; nothing of the group is started)."""
        prepared = []
        for container in containers:
            record = self.record.container(container["name"])
            try:
                prepared.append((container, record, *self._prepare(container, record)))
            except ContainerConfigError as exc:
                self._config_error([record], str(exc))
                return None
        return [(container, record, self._start(argv, cwd, env, record)) for container, record, argv, cwd, env in prepared]

    def _run_together(self, containers: list[Mapping[str, Any]]) -> str:
        """Start them together, wait for all: Succeeded (all exited 0), Failed, or Pending (a config error)."""
        started = self._start_all(containers)
        if started is None:
            return "Pending"
        for container, record, process in started:
            self._finish(container, record, process)
        return "Succeeded" if all(record.exit_code == 0 for _, record, _ in started) else "Failed"

    def _prepare(self, container: Mapping[str, Any], record: ContainerRecord) -> tuple[list[str], str, dict[str, str]]:
        sandbox = self.record.sandbox
        assert sandbox is not None
        image = self.images.image(container.get("image", ""))
        container_env = {k: sandbox.localize(container, v) for k, v in resolve_env(container, self.pod, sandbox.secrets, sandbox.config_maps).items()}
        command, args = container.get("command"), container.get("args")
        argv = list(command or image.entrypoint) + list(args or ([] if command else image.cmd))
        argv = [sandbox.localize(container, expand(arg, container_env)) for arg in argv]
        if argv and argv[0] in image.binaries:
            argv[0] = image.binaries[argv[0]]
        cwd = sandbox.localize(container, container.get("workingDir") or str(sandbox.home))
        Path(cwd).mkdir(parents=True, exist_ok=True)
        termination_file = sandbox.termination_file(container)
        termination_file.write_bytes(b"")
        env = {**self.images.env(image, sandbox.home), **container_env, TERMINATION_LOG_ENV: str(termination_file)}
        record.argv = argv
        return argv, cwd, env

    def _start(self, argv: list[str], cwd: str, env: dict[str, str], record: ContainerRecord) -> _Process | None:
        record.started_at = rfc3339(utcnow())
        with self._lock:
            if self._killed_because:
                record.exit_code, record.reason, record.finished_at = 137, "Error", rfc3339(utcnow())
                record.message = f"not started: {self._killed_because}"
                return None
            try:
                process = _Process(argv, cwd, env, record)
            except OSError as exc:  # what a runtime reports for an exec that fails
                record.exit_code, record.reason, record.finished_at = START_ERROR_EXIT_CODE, "StartError", rfc3339(utcnow())
                record.message = f"failed to start {argv[:1]}: {exc}"
                return None
            self._live.append(process)
            return process

    def _finish(self, container: Mapping[str, Any], record: ContainerRecord, process: _Process | None) -> None:
        if process is None:
            return
        record.exit_code = process.wait()
        record.finished_at = rfc3339(utcnow())
        with self._lock:
            self._live.remove(process)
        record.reason = "Completed" if record.exit_code == 0 else "Error"
        assert self.record.sandbox is not None
        record.message = termination_message(container, record, self.record.sandbox.termination_file(container))


def run_pod_locally(
    pod: Mapping[str, Any],
    workdir: Path,
    *,
    node_dir: Path | None = None,
    secrets: Mapping[str, Mapping[str, str]] | None = None,
    config_maps: Mapping[str, Mapping[str, str]] | None = None,
    images: ImageEnvironment = DEFAULT_IMAGES,
    timeout: float = 600.0,
) -> PodRecord:
    """Run `pod` (a manifest: from pods.builder, or from the API server) to its end in `workdir`, blocking. `secrets`
    and `config_maps`: name -> data (decoded strings), what the API server would hold. `timeout` bounds the pod like
    an activeDeadlineSeconds (the record then says DeadlineExceeded)."""
    run = PodRun(pod, workdir, node_dir=node_dir or workdir / "node", images=images)
    try:
        return run.run(secrets or {}, config_maps or {}, deadline_seconds=timeout)
    finally:
        run.record.done.set()


# The status a kubelet writes at the end.


def _condition(type_: str, status: str, reason: str = "", message: str = "") -> dict[str, Any]:
    condition = {"type": type_, "status": status, "lastTransitionTime": rfc3339(utcnow()), "lastProbeTime": None}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def final_conditions(record: PodRecord, current: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    unready = [c.name for c in record.main_containers() if c.exit_code != 0 or record.phase != "Succeeded"]
    failed_init = [c.name for c in record.containers if c.init and c.exit_code != 0]
    replaced = {
        "PodReadyToStartContainers": _condition("PodReadyToStartContainers", "False"),
        "Initialized": _condition("Initialized", "True")
        if not failed_init
        else _condition("Initialized", "False", "ContainersNotInitialized", f"containers with incomplete status: [{' '.join(failed_init)}]"),
        "Ready": _condition("Ready", "False", "PodCompleted")
        if record.succeeded
        else _condition("Ready", "False", "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]"),
    }
    replaced["ContainersReady"] = {**replaced["Ready"], "type": "ContainersReady"}
    kept = [dict(c) for c in current if c.get("type") not in replaced]
    return kept + list(replaced.values())


def final_status(record: PodRecord, current: Mapping[str, Any]) -> dict[str, Any]:
    """The pod status (to merge-patch) after the stand-in ran it; phase left as is after a config error, as the
    kubelet never starts such a pod."""
    status: dict[str, Any] = {
        "conditions": final_conditions(record, current.get("conditions") or []),
        "containerStatuses": [c.status() for c in record.main_containers()],
    }
    if record.phase in ("Succeeded", "Failed"):
        status["phase"] = record.phase
    inits = [c.status() for c in record.containers if c.init]
    if inits:
        status["initContainerStatuses"] = inits
    if record.reason == DEADLINE_EXCEEDED:
        status["reason"], status["message"] = record.reason, record.message
    return status


# The cluster mode.


def decoded(obj: Mapping[str, Any] | None) -> dict[str, str] | None:
    """A Secret's or ConfigMap's data as strings (Secrets are base64 on the wire)."""
    if obj is None:
        return None
    if obj.get("kind") == "Secret":
        return {k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()}
    return dict(obj.get("data") or {})


def referenced_names(pod: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """The Secrets and the ConfigMaps the pod's env and volumes name."""
    secrets: set[str] = set()
    config_maps: set[str] = set()
    spec = pod.get("spec") or {}
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        for source in container.get("envFrom") or []:
            secrets.update([source["secretRef"]["name"]] if "secretRef" in source else [])
            config_maps.update([source["configMapRef"]["name"]] if "configMapRef" in source else [])
        for var in container.get("env") or []:
            value_from = var.get("valueFrom") or {}
            secrets.update([value_from["secretKeyRef"]["name"]] if "secretKeyRef" in value_from else [])
            config_maps.update([value_from["configMapKeyRef"]["name"]] if "configMapKeyRef" in value_from else [])
    for volume in spec.get("volumes") or []:
        secrets.update([volume["secret"].get("secretName", "")] if "secret" in volume else [])
        config_maps.update([volume["configMap"].get("name", "")] if "configMap" in volume else [])
        for source in (volume.get("projected") or {}).get("sources") or []:
            secrets.update([source["secret"].get("name", "")] if "secret" in source else [])
            config_maps.update([source["configMap"].get("name", "")] if "configMap" in source else [])
    return secrets, config_maps


def made_running_by_kwok(pod: Mapping[str, Any]) -> bool:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    return bool(spec.get("nodeName")) and status.get("phase") == "Running" and not meta.get("deletionTimestamp")


def _all_statuses(status: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or [])


def claimed_by_a_standin(pod: Mapping[str, Any]) -> bool:
    """A stand-in (this one, or one of an earlier test) has started the pod's containers: never again, as a
    restarted kubelet finds its containers."""
    return any(str(s.get("containerID", "")).startswith(f"{CONTAINER_ID_SCHEME}://") for s in _all_statuses(pod.get("status") or {}))


def claiming_status(record: PodRecord, current: Mapping[str, Any]) -> dict[str, Any]:
    """kwok's statuses with the stand-in's containerIDs: what a kubelet reports once it has created the containers."""
    ids = {c.name: c.container_id for c in record.containers}
    claimed = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        if current.get(key):
            claimed[key] = [{**s, "containerID": ids[s["name"]]} for s in current[key] if s.get("name") in ids]
    return claimed


def json_stream(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """JSON documents one after the other (kubectl --watch -o json: one per line, or pretty-printed)."""
    buffer = ""
    for line in lines:
        buffer += line
        if not buffer.strip():
            buffer = ""
            continue
        try:
            document = json.loads(buffer)
        except json.JSONDecodeError:
            continue
        buffer = ""
        yield document


class KubeletStandIn:
    """The kubelet for the pods of `namespace` matching `selector`, while the `with` (or `async with`) block runs.

    `workdir`: where the pods' directories go. `selector`: which pods of the namespace are its. `images`: the
    ImageEnvironment (DEFAULT_IMAGES.with_images({...}) for a test's own images).

    `records`: a PodRecord per pod it started (appended when it starts; `record.done` is set when the stand-in is
    done with the pod); `wait_for(name)`, `wait_for_output(name, text)`; `report()`: every pod's exit codes and log
    tails, for assertion messages; `errors`: the stand-in's own failures, raised when the block ends."""

    def __init__(
        self,
        kube: Kube,
        namespace: str,
        workdir: Path,
        *,
        selector: str = DEFAULT_SELECTOR,
        images: ImageEnvironment = DEFAULT_IMAGES,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.workdir = Path(workdir)
        self.selector = selector
        self.images = images
        self.errors: list[str] = []
        self._records: list[PodRecord] = []
        self._runs: dict[str, PodRun] = {}  # by pod uid
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._watch_proc: subprocess.Popen[str] | None = None
        self._watcher = threading.Thread(target=self._watch, name=f"kubelet-standin-watch-{namespace}", daemon=True)

    # Life cycle.

    def start(self) -> KubeletStandIn:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._watcher.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            proc, runs = self._watch_proc, list(self._runs.values())
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for run in runs:
            run.kill("the stand-in stopped")
        self._watcher.join(timeout=30)
        for thread in list(self._threads):
            thread.join(timeout=30)

    def __enter__(self) -> KubeletStandIn:
        return self.start()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.stop()
        if self.errors and exc_type is None:
            raise AssertionError("the kubelet stand-in failed:\n" + "\n".join(self.errors) + "\n" + self.report())

    async def __aenter__(self) -> KubeletStandIn:
        return self.start()

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await asyncio.to_thread(self.__exit__, exc_type, exc, tb)

    # What tests look at.

    @property
    def records(self) -> list[PodRecord]:
        with self._lock:
            return list(self._records)

    def records_of(self, pod_name: str) -> list[PodRecord]:
        return [r for r in self.records if r.name == pod_name]

    def wait_for(self, pod_name: str, timeout: float = 60.0) -> PodRecord:
        """The record of the pod named so, once the stand-in is done with it (status written, or deleted)."""
        deadline = time.monotonic() + timeout
        record = self._wait_started(pod_name, deadline)
        if not record.done.wait(max(0.0, deadline - time.monotonic())):
            raise AssertionError(f"pod {pod_name} still running after {timeout}s\n{self.report()}")
        return record

    def wait_for_output(self, pod_name: str, text: str, timeout: float = 60.0) -> PodRecord:
        """The record of the pod named so, once one of its containers has logged `text` (it may still run)."""
        deadline = time.monotonic() + timeout
        record = self._wait_started(pod_name, deadline)
        wait_until(
            lambda: any(text in c.log() for c in record.containers), max(0.0, deadline - time.monotonic()),
            lambda: f"pod {pod_name} did not log {text!r}\n{self.report()}", interval=0.1,
        )  # fmt: skip
        return record

    def _wait_started(self, pod_name: str, deadline: float) -> PodRecord:
        with self._changed:
            while True:
                found = [r for r in self._records if r.name == pod_name]
                if found:
                    return found[-1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the kubelet stand-in never started pod {pod_name}\n{self._report()}")
                self._changed.wait(left)

    def report(self) -> str:
        with self._lock:
            return self._report()

    def _report(self) -> str:
        return "\n".join(r.report() for r in self._records) or "(the kubelet stand-in ran no pod)"

    # Watching.

    def _watch(self) -> None:
        argv = [self.kube.kubectl_bin, "--kubeconfig", self.kube.kubeconfig, "get", "pods", "-n", self.namespace]
        argv += ["-l", self.selector, "--watch", "--output-watch-events", "-o", "json"]
        while not self._stopping.is_set():
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=DIE_WITH_PARENT)
            with self._lock:
                self._watch_proc = proc
            if self._stopping.is_set():
                proc.kill()
            assert proc.stdout is not None
            try:
                for event in json_stream(iter(proc.stdout.readline, "")):
                    self._on_event(event)
            except Exception:
                self.errors.append(f"watch: {traceback.format_exc()}")
            proc.kill()
            _, stderr = proc.communicate()
            if not self._stopping.is_set():
                # The API server ends watches after a while; an error is worth a line in the report.
                if proc.returncode not in (0, -signal.SIGKILL) and stderr.strip():
                    self.errors.append(f"kubectl watch exited {proc.returncode}: {stderr.strip()[-2000:]}")
                time.sleep(0.5)

    def _on_event(self, event: Mapping[str, Any]) -> None:
        pod = event.get("object") or {}
        if event.get("type") not in ("ADDED", "MODIFIED", "DELETED") or pod.get("kind") != "Pod":
            return
        uid = pod["metadata"]["uid"]
        with self._lock:
            run = self._runs.get(uid)
        if event["type"] == "DELETED" or pod["metadata"].get("deletionTimestamp"):
            if run is not None and not run.record.done.is_set():
                run.record.deleted = True
                run.kill("the pod was deleted")
            return
        if run is None and made_running_by_kwok(pod) and not claimed_by_a_standin(pod):
            self._begin(pod)

    def _begin(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        workdir = self.workdir / f"{meta['name']}-{meta['uid'][:8]}"
        run = PodRun(pod, workdir, node_dir=self.workdir / "nodes" / pod["spec"]["nodeName"], images=self.images)
        thread = threading.Thread(target=self._run_pod, args=(run, pod), name=f"kubelet-standin-{meta['name']}", daemon=True)
        with self._changed:
            self._runs[meta["uid"]] = run
            self._records.append(run.record)
            self._threads.append(thread)
            self._changed.notify_all()
        thread.start()

    def _run_pod(self, run: PodRun, pod: Mapping[str, Any]) -> None:
        try:
            if not self._write_status(run.record, claiming_status(run.record, pod.get("status") or {})):
                return
            record = run.run(*self._fetch_referenced(pod), tokens=self._tokens(pod))
            if run.killed_because in (None, DEADLINE_EXCEEDED):
                self._write_status(record, final_status(record, self._current_status(record)))
        except Exception:
            run.record.error = traceback.format_exc()
            self.errors.append(f"pod {pod['metadata']['name']}: {run.record.error}")
        finally:
            run.record.done.set()

    def _fetch_referenced(self, pod: Mapping[str, Any]) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
        secret_names, config_map_names = referenced_names(pod)
        fetched = []
        for kind, names in (("secret", secret_names), ("configmap", config_map_names)):
            objects = {name: decoded(self.kube.get(kind, name, self.namespace)) for name in sorted(names)}
            fetched.append({name: data for name, data in objects.items() if data is not None})
        return fetched[0], fetched[1]

    def _tokens(self, pod: Mapping[str, Any]) -> dict[str, str]:
        """Audience -> a token of the pod's ServiceAccount bound to the pod, for each projected serviceAccountToken
        of an audience of its own (kubelet's token manager: TokenRequest with the pod as bound object)."""
        meta, spec = pod["metadata"], pod["spec"]
        tokens = {}
        for volume in spec.get("volumes") or []:
            for source in (volume.get("projected") or {}).get("sources") or []:
                request = source.get("serviceAccountToken") or {}
                if not request.get("audience"):
                    continue
                minted = self.kube.run(
                    "create", "token", spec.get("serviceAccountName") or "default", "-n", self.namespace,
                    "--audience", request["audience"], "--duration", f"{request.get('expirationSeconds', 3600)}s",
                    "--bound-object-kind", "Pod", "--bound-object-name", meta["name"], "--bound-object-uid", meta["uid"],
                )  # fmt: skip
                tokens[request["audience"]] = minted.stdout.strip()
        return tokens

    def _current_status(self, record: PodRecord) -> dict[str, Any]:
        current = self.kube.get("pod", record.name, self.namespace)
        return (current or {}).get("status") or {}

    def _write_status(self, record: PodRecord, status: Mapping[str, Any]) -> bool:
        """Merge-patch the pod's status (lists replaced whole); False when the pod is gone."""
        # metadata.uid cannot change: the patch is refused when the name belongs to a new pod by now.
        patch = json.dumps({"metadata": {"uid": record.uid}, "status": status})
        proc = self.kube.run("patch", "pod", record.name, "-n", self.namespace, "--subresource=status", "--type=merge", "-p", patch, check=False)
        if proc.returncode == 0:
            return True
        if "NotFound" in proc.stderr or "metadata.uid" in proc.stderr:  # gone, or another pod of that name now
            record.deleted = True
            return False
        raise AssertionError(f"writing the status of pod {record.name} failed: {proc.stderr.strip()}")
