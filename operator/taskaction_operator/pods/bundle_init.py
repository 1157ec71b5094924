"""The code bundle's init container: for an image that does not fetch its bundle itself, `taskaction-bootstrap`
downloads and unpacks it into an emptyDir (optionally through a per-node cache), and the task runs from there. The
in-pod side is `bundles/`; see docs/bundles.md."""

from __future__ import annotations

import copy
from typing import Any

from ..settings import Settings
from .env import storage_env

CODE_VOLUME = "taskaction-code"
CODE_DIR = "/var/run/taskaction/code"
BUNDLE_CACHE_VOLUME = "taskaction-bundle-cache"
BUNDLE_CACHE_DIR = "/var/cache/taskaction/bundles"
BOOTSTRAP_CONTAINER = "taskaction-bootstrap"
RESERVED_NAMES = frozenset({CODE_VOLUME, BUNDLE_CACHE_VOLUME, BOOTSTRAP_CONTAINER})
# The bootstrap needs no privilege (it writes an emptyDir and the cache as the runtime image's uid 65532): it meets the
# restricted Pod Security Standard whatever the level, so it never is what refuses a pod.
BOOTSTRAP_SECURITY_CONTEXT = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def fetches_its_own_bundle(args: list[str]) -> bool:
    """Flyte SDK images download the bundle themselves (`a0 ... --tgz <uri> --dest .`)."""
    return "--tgz" in args


def reserved_name_problem(spec: dict[str, Any], path: str) -> str | None:
    """A volume or container of a task's pod spec or a PodTemplate that takes a name of the operator's own, or None:
    the pod policy trusts those names to be the operator's (only its bootstrap mounts the node's bundle cache)."""
    for kind in ("volumes", "initContainers", "containers"):
        for i, item in enumerate(spec.get(kind) or []):
            if isinstance(item, dict) and item.get("name") in RESERVED_NAMES:
                return f"{path}.{kind}[{i}].name: {item['name']!r} is reserved for the operator"
    return None


def add_bundle_bootstrap(spec: dict[str, Any], primary: str, bundle_uri: str, settings: Settings) -> None:
    """An init container fetches and unpacks the bundle into an emptyDir; the task runs from there."""
    mounts = [{"name": CODE_VOLUME, "mountPath": CODE_DIR}]
    args = ["--bundle", bundle_uri, "--dest", CODE_DIR]
    volumes = [{"name": CODE_VOLUME, "emptyDir": {}}]
    if settings.bootstrap_cache_host_path:
        volumes.append({"name": BUNDLE_CACHE_VOLUME, "hostPath": {"path": settings.bootstrap_cache_host_path, "type": "DirectoryOrCreate"}})
        mounts.append({"name": BUNDLE_CACHE_VOLUME, "mountPath": BUNDLE_CACHE_DIR})
        args += ["--cache-dir", BUNDLE_CACHE_DIR]
    init = {
        "name": BOOTSTRAP_CONTAINER,
        "image": settings.bootstrap_image,
        "args": args,
        "env": storage_env(settings),
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": copy.deepcopy(BOOTSTRAP_SECURITY_CONTEXT),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
    }
    spec["initContainers"] = [init] + list(spec.get("initContainers") or [])
    spec["volumes"] = list(spec.get("volumes") or []) + volumes
    for container in spec.get("containers") or []:
        if container.get("name") == primary:
            container["volumeMounts"] = list(container.get("volumeMounts") or []) + [{"name": CODE_VOLUME, "mountPath": CODE_DIR}]
            container.setdefault("workingDir", CODE_DIR)
