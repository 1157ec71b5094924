"""The template's secrets (`secrets=` on a task: TaskTemplate.security_context.secrets) injected into the pod from
Kubernetes Secrets of the pod's namespace, exactly as Flyte's secret webhook does with its K8s injector
(flyteplugins pluginmachinery/secret k8s_secrets.go, utils.go). The operator builds the pod itself, so it injects them
while building it and no mutating webhook is needed.

A secret names the Secret `group` (md5 hex of `key` without a group, as Flyte's secret service names them) and its
data key `key`:
- ENV_VAR: `<prefix><GROUP>_<KEY>` (upper case) from a secretKeyRef (optional), also under `env_var` when the task
  names one (the Flyte 2 SDK always does: `Secret("k")` reads `os.environ["K"]`), and FLYTE_SECRETS_ENV_PREFIX;
- FILE and ANY: a secret volume with the key as file `<lower key>`, mounted read-only at
  /etc/flyte/secrets/<lower group>, FLYTE_SECRETS_DEFAULT_DIR=/etc/flyte/secrets, FLYTE_SECRETS_FILE_PREFIX="", and
  `env_var` holding the file's path when named.
Every container and init container gets them; each env var goes to the front of the env, replacing one of its name.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from flyteidl2.core import security_pb2, tasks_pb2

from .errors import BadTaskSpecification

SECRETS_DIR = "/etc/flyte/secrets"
DEFAULT_DIR_ENV = "FLYTE_SECRETS_DEFAULT_DIR"
FILE_PREFIX_ENV = "FLYTE_SECRETS_FILE_PREFIX"
ENV_PREFIX_ENV = "FLYTE_SECRETS_ENV_PREFIX"
_BASE32 = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "abcdefghijklmnopqrstuvwxyz123456")


def flyte_base32(data: bytes) -> str:
    """Flyte's encoding.Base32Encoder: base32 in the alphabet a-z1-6, no padding."""
    return base64.b32encode(data).decode().rstrip("=").translate(_BASE32)


def secret_group(secret: security_pb2.Secret) -> str:
    """The Secret's name: the group, else md5 hex of the key (EncodeK8sSecretName)."""
    return secret.group or hashlib.md5(secret.key.encode()).hexdigest()  # noqa: S324 (a name, not security)


def secrets_of(template: tasks_pb2.TaskTemplate) -> list[security_pb2.Secret]:
    return list(template.security_context.secrets) if template.HasField("security_context") else []


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def _prepend_env(spec: dict[str, Any], var: dict[str, Any]) -> None:
    """AppendEnvVars: to the front of every container's env, replacing a variable of the same name."""
    for container in _containers(spec):
        container["env"] = [var] + [e for e in container.get("env") or [] if e.get("name") != var["name"]]


def _mount(spec: dict[str, Any], volume: dict[str, Any], mount: dict[str, Any]) -> None:
    """AppendVolume (a second key of the same Secret joins its volume) and AppendVolumeMounts (once per name)."""
    volumes = spec.setdefault("volumes", [])
    same = next((v for v in volumes if (v.get("secret") or {}).get("secretName") == volume["secret"]["secretName"]), None)
    if same is not None:
        same["secret"].setdefault("items", []).extend(volume["secret"]["items"])
    else:
        volumes.append(volume)
    for container in _containers(spec):
        mounts = container.setdefault("volumeMounts", [])
        if not any(m.get("name") == mount["name"] for m in mounts):
            mounts.append(mount)


def _inject_env_var(spec: dict[str, Any], secret: security_pb2.Secret, group: str, prefix: str) -> None:
    ref = {"secretKeyRef": {"name": group, "key": secret.key, "optional": True}}
    _prepend_env(spec, {"name": (prefix + group + "_" + secret.key).upper(), "valueFrom": ref})
    if secret.env_var:
        _prepend_env(spec, {"name": secret.env_var, "valueFrom": ref})
    _prepend_env(spec, {"name": ENV_PREFIX_ENV, "value": prefix})


def _inject_file(spec: dict[str, Any], secret: security_pb2.Secret, group: str) -> None:
    name = flyte_base32(f"{group}_{secret.group_version}".encode())
    volume = {"name": name, "secret": {"secretName": group, "items": [{"key": secret.key, "path": secret.key.lower()}], "optional": True}}
    _mount(spec, volume, {"name": name, "readOnly": True, "mountPath": f"{SECRETS_DIR}/{group.lower()}"})
    _prepend_env(spec, {"name": DEFAULT_DIR_ENV, "value": SECRETS_DIR})
    _prepend_env(spec, {"name": FILE_PREFIX_ENV, "value": ""})
    if secret.env_var:
        _prepend_env(spec, {"name": secret.env_var, "value": f"{SECRETS_DIR}/{group.lower()}/{secret.key.lower()}"})


def inject_secrets(spec: dict[str, Any], template: tasks_pb2.TaskTemplate, env_prefix: str) -> None:
    """K8sSecretInjector.Inject for each secret, in order. A secret without a key is refused, as the webhook refuses
    its pod."""
    for secret in secrets_of(template):
        if not secret.key:
            raise BadTaskSpecification(f"k8s Secrets Webhook require key to be set (security_context.secrets: group {secret.group!r})")
        group = secret_group(secret)
        if secret.mount_requirement == security_pb2.Secret.ENV_VAR:
            _inject_env_var(spec, secret, group, env_prefix)
        else:
            _inject_file(spec, secret, group)
