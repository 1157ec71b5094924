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


def started(status: dict[str, Any]) -> None:
    status["pluginState"] = base64.b64encode(json.dumps({"phase": "Started"}, separators=(",", ":")).encode()).decode()
    status["pluginStateVersion"] = VERSION


def reset(status: dict[str, Any]) -> None:
    status["pluginState"] = None
    status["pluginStateVersion"] = 0
