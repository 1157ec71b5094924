"""The token a task pod presents to the actions service (actions/auth.py): a projected ServiceAccount token with the
service's audience, bound to the pod, and the env that makes the Flyte SDK send it (flyte 2.12
`init_in_cluster`: FLYTE_AUTH_TYPE=ExternalCommand runs FLYTE_AUTH_COMMAND and sends its stdout as
`authorization: Bearer`, re-running it when the service answers UNAUTHENTICATED, so a rotated token is picked up).

The SDK sends it only on a channel it does not call insecure: `_U_EP_OVERRIDE` must be `http://host:port` (or https)
without `_U_INSECURE` (docs/actions-service.md, "Authentication").
"""

from __future__ import annotations

import json
from typing import Any

from ..settings import Settings
from .env import env_var

VOLUME = "taskaction-actions-token"
MOUNT_PATH = "/var/run/secrets/taskaction/actions"
TOKEN_FILE = f"{MOUNT_PATH}/token"
EXPIRATION_SECONDS = 3600  # the kubelet renews it at 80 %


def add_actions_token(spec: dict[str, Any], settings: Settings) -> None:
    """Project the token into every container of the pod spec, with the SDK's auth env (in place)."""
    if not settings.pods_get_actions_token:
        return
    token = {"audience": settings.actions_service_token_audience, "expirationSeconds": EXPIRATION_SECONDS, "path": "token"}
    spec["volumes"] = [*(spec.get("volumes") or []), {"name": VOLUME, "projected": {"sources": [{"serviceAccountToken": token}]}}]
    sdk_auth = {"FLYTE_AUTH_TYPE": "ExternalCommand", "FLYTE_AUTH_COMMAND": json.dumps(["cat", TOKEN_FILE])}
    # TASKACTION_DEFAULT_ENV_VARS may say otherwise (an image without `cat`): what it sets is left to it.
    env = [env_var(name, value) for name, value in sdk_auth.items() if name not in settings.default_env_vars]
    for container in spec.get("containers") or []:
        container["volumeMounts"] = [*(container.get("volumeMounts") or []), {"name": VOLUME, "mountPath": MOUNT_PATH, "readOnly": True}]
        container["env"] = [*(container.get("env") or []), *env]
