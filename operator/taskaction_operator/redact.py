"""Secret values out of what the operator writes for others to read: its log, the TaskActions' status (and so the
ActionEvents built from it), Kubernetes Events.

Two kinds are replaced by `[redacted]` wherever they stand: the values this process holds (its S3 credentials, from
its settings or the AWS environment, and the token it talks to the API server with: `register`ed where they are
loaded), and anything shaped like a Kubernetes ServiceAccount token (a JWT), whoever's it is. They can come back in
text the operator did not write: a task that prints its env as it fails has its log's tail for termination message
(FallbackToLogsOnError), which the status and the Events repeat; a storage error may quote a request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from .api.json_values import map_leaves

REDACTED = "[redacted]"
# Shorter values would redact ordinary words (a test's "secret", a key id "minio").
MIN_LENGTH = 8
# header.payload.signature, base64url, as ServiceAccount (and OIDC) tokens are.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
# Where the AWS SDKs and the Flyte SDK take credentials from when the settings name none.
SECRET_ENV = (
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "FLYTE_AWS_ACCESS_KEY_ID",
    "FLYTE_AWS_SECRET_ACCESS_KEY", "AZURE_STORAGE_ACCOUNT_KEY", "AZURE_CLIENT_SECRET",
)  # fmt: skip

_known: set[str] = set()
_longest_first: list[str] = []


def register(values: Iterable[str | None]) -> None:
    """Values this process holds that nothing it writes may show."""
    _known.update(v for v in values if v and len(v) >= MIN_LENGTH)
    _longest_first[:] = sorted(_known, key=len, reverse=True)  # a value inside another goes after it


def from_environment(environ: dict[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    return [env[name] for name in SECRET_ENV if env.get(name)]


def text(value: str) -> str:
    for secret in _longest_first:
        if secret in value:
            value = value.replace(secret, REDACTED)
    return JWT.sub(REDACTED, value)


def strings(value: Any) -> Any:
    """Every string of a JSON-shaped value redacted."""
    return map_leaves(value, lambda leaf: text(leaf) if isinstance(leaf, str) else leaf)
