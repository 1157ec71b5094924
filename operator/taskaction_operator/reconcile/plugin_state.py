"""Our plugin state: whether the pod of the current attempt was created.

Upstream stores a Go gob (pluginStateVersion 1) that Python cannot read. We write JSON under version 2. An action
carrying Go state was started by the Go executor: it is taken as started, so its pod is adopted, not re-created.
"""

from __future__ import annotations

import base64
import json
from typing import Any

GO_GOB_VERSION = 1
VERSION = 2
STALE_ERROR = "staleError"


def is_started(status: dict[str, Any]) -> bool:
    raw = status.get("pluginState")
    if not raw:
        return False
    if status.get("pluginStateVersion") == GO_GOB_VERSION:
        return True
    try:
        return json.loads(base64.b64decode(raw)).get("phase") == "Started"
    except (ValueError, AttributeError):
        return False


def _ours(status: dict[str, Any]) -> dict[str, Any]:
    raw = status.get("pluginState")
    if not raw or status.get("pluginStateVersion") != VERSION:
        return {}
    try:
        state = json.loads(base64.b64decode(raw))
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def _write(status: dict[str, Any], state: dict[str, Any]) -> None:
    status["pluginState"] = base64.b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()
    status["pluginStateVersion"] = VERSION


def started(status: dict[str, Any]) -> None:
    stale = stale_error(status)
    _write(status, {"phase": "Started", **({STALE_ERROR: stale} if stale else {})})


def reset(status: dict[str, Any], stale_error: str | None = None) -> None:
    """The attempt starts over. `stale_error`: the version of the error.pb that ended its last run, which stays under
    the attempt's output prefix (the SDK does not remove it) and must not be taken for the next run's."""
    if stale_error:
        _write(status, {STALE_ERROR: stale_error})
    else:
        status["pluginState"] = None
        status["pluginStateVersion"] = 0


def stale_error(status: dict[str, Any]) -> str | None:
    return _ours(status).get(STALE_ERROR)
