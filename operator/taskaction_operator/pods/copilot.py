"""CoPilot for raw containers (the SDK's ContainerTask: `container.data_config` enabled), as flyteplugins' flytek8s
copilot.go (AddCoPilotToContainer, AddCoPilotToPod) builds it: the task's image knows nothing of Flyte, so a
`downloader` init container writes its inputs (inputs.pb as files, and in the data_config's format) to the input path
and an `uploader` sidecar (an init container with restartPolicy Always, started first) turns what the task left in the
output path into outputs.pb once the task has exited (the kubelet's SIGTERM; the pod's termination grace is the
upload timeout). Each path is an emptyDir shared with the primary container, sized by the task's `storage` resource.

Differences from upstream: copilot reaches the store with the task pods' storage settings (TASKACTION_POD_STORAGE_*):
the endpoint and region as stow config flags, the credentials as AWS_* env from TASKACTION_POD_STORAGE_SECRET
(`auth_type=iam` reads them there), never on the command line as upstream's stow config puts them; only s3:// stores.
A failed download or upload is reported in error.pb, where the executor looks (`--err-output-name`; copilot's default,
errors.pb, is read by nobody, so upstream never sees why).
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

from flyteidl2.core import tasks_pb2

from ..api.decoding import SpecError
from ..api.phase import go_duration
from ..settings import Settings
from ..storage import paths
from ..storage.outputs import ERROR_FILE
from .env import storage_env

NAME_PREFIX = "flyte-copilot-"
DOWNLOADER = "downloader"
UPLOADER = "uploader"
INPUT_VOLUME = "flyte-inputs"
OUTPUT_VOLUME = "flyte-outputs"
DEFAULT_INPUT_PATH = "/var/flyte/inputs"
DEFAULT_OUTPUT_PATH = "/var/flyte/outputs"
BINARY = "/bin/flyte-copilot"
LOGGER_LEVEL = 3  # flytestdlib's default, WarnLevel


def data_config(template: tasks_pb2.TaskTemplate) -> tasks_pb2.DataLoadingConfig | None:
    """The enabled data_config of the container or k8s_pod target, or None."""
    if template.HasField("container"):
        config = template.container.data_config
    elif template.HasField("k8s_pod"):
        config = template.k8s_pod.data_config
    else:
        return None
    return config if config.enabled else None


def command(output_prefix: str, settings: Settings) -> list[str]:
    """CopilotCommandArgs with the store as task pods see it."""
    parts = urlsplit(output_prefix)
    if parts.scheme not in ("s3", "s3a"):
        raise SpecError(f"a raw container's copilot reads and writes s3:// stores only, not {parts.scheme}://")
    config = {"auth_type": "iam", "region": settings.pod_storage_region or "us-east-1"}
    if settings.pod_storage_endpoint:
        config["endpoint"] = settings.pod_storage_endpoint
        config["disable_ssl"] = str(settings.pod_storage_endpoint.startswith("http://")).lower()
    flags = [BINARY, "--storage.limits.maxDownloadMBs=0", f"--logger.level={LOGGER_LEVEL}", f"--err-output-name={ERROR_FILE}"]
    flags.append("--storage.enable-multicontainer")
    flags += [f"--storage.container={parts.netloc}", "--storage.type=stow"]
    for key, value in sorted(config.items()):
        flags += ["--storage.stow.config", f"{key}={value}"]
    return flags + ["--storage.stow.kind=s3"]


def _container(name: str, args: list[str], mount: dict[str, str], output_prefix: str, settings: Settings) -> dict[str, Any]:
    """FlyteCoPilotContainer."""
    quantities = {"cpu": settings.copilot_cpu, "memory": settings.copilot_memory}
    return {
        "name": NAME_PREFIX + name,
        "image": settings.copilot_image,
        "command": command(output_prefix, settings),
        "args": args,
        "workingDir": "/",
        "env": [var for var in storage_env(settings) if var["name"].startswith("AWS_")],
        "resources": {"limits": dict(quantities), "requests": dict(quantities)},
        "volumeMounts": [mount],
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "imagePullPolicy": "IfNotPresent",
    }


def _storage_size(template: tasks_pb2.TaskTemplate) -> str | None:
    """CalculateStorageSize: the task's `storage` limit, else its request."""
    resources = template.container.resources if template.HasField("container") else tasks_pb2.Resources()
    for entries in (resources.limits, resources.requests):
        for entry in entries:
            if entry.name == tasks_pb2.Resources.STORAGE and entry.value:
                return entry.value
    return None


def _volume(name: str, size: str | None) -> dict[str, Any]:
    return {"name": name, "emptyDir": {"sizeLimit": size} if size else {}}


def _b64(message: Any) -> str:
    return base64.b64encode(message.SerializeToString()).decode()


def add_copilot(
    spec: dict[str, Any], primary: str, template: tasks_pb2.TaskTemplate, input_uri: str, output_prefix: str, settings: Settings
) -> None:
    """The downloader, the uploader and their volumes, in the pod spec, for a template with an enabled data_config."""
    config = data_config(template)
    if config is None:
        return
    container = next(ct for ct in spec["containers"] if ct.get("name") == primary)
    container.setdefault("securityContext", {}).setdefault("capabilities", {})
    typed = template.interface
    size = _storage_size(template)
    first: list[dict[str, Any]] = []
    last: list[dict[str, Any]] = []
    if typed.inputs.variables:
        mount = {"name": INPUT_VOLUME, "mountPath": config.input_path or DEFAULT_INPUT_PATH}
        container.setdefault("volumeMounts", []).append(dict(mount))
        spec.setdefault("volumes", []).append(_volume(INPUT_VOLUME, size))
        args = [
            "download", "--from-remote", paths.inputs_file(input_uri), "--to-output-prefix", output_prefix, "--to-local-dir", mount["mountPath"],
            "--format", tasks_pb2.DataLoadingConfig.LiteralMapFormat.Name(config.format),
            "--file-input-layout", tasks_pb2.DataLoadingConfig.FileInputLayout.Name(config.file_input_layout),
            "--input-interface", _b64(typed.inputs),
        ]  # fmt: skip
        last.append(_container(DOWNLOADER, args, mount, output_prefix, settings))
    if typed.outputs.variables:
        mount = {"name": OUTPUT_VOLUME, "mountPath": config.output_path or DEFAULT_OUTPUT_PATH}
        container.setdefault("volumeMounts", []).append(dict(mount))
        spec.setdefault("volumes", []).append(_volume(OUTPUT_VOLUME, size))
        args = [
            "sidecar", "--timeout", go_duration(settings.copilot_timeout_seconds), "--to-raw-output", output_prefix,
            "--to-output-prefix", output_prefix, "--from-local-dir", mount["mountPath"], "--interface", _b64(typed),
        ]  # fmt: skip
        # First: it is running (watching for the task's end) before the downloader and the task start.
        first.append({**_container(UPLOADER, args, mount, output_prefix, settings), "restartPolicy": "Always"})
        spec["terminationGracePeriodSeconds"] = int(settings.copilot_timeout_seconds)
    if first or last:
        spec["initContainers"] = first + list(spec.get("initContainers") or []) + last
