"""Choose the reconcile of an action by its type; both kinds of child get their parent reference."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ..api import constants as c
from ..settings import Settings
from . import ownership
from . import status as st
from .condition import reconcile_condition
from .lookups import NOTHING_LOOKED_UP, Lookups
from .plan import Plan
from .task import reconcile_task


def needs_parent(body: dict[str, Any]) -> bool:
    meta = body["metadata"]
    return bool(
        (body.get("spec") or {}).get("parentActionName")
        and not meta.get("deletionTimestamp")
        and not st.is_terminal(body.get("status") or {})
    )


def reconcile(
    body: dict[str, Any],
    pod: dict[str, Any] | None,
    parent: dict[str, Any] | None,
    now: datetime,
    settings: Settings,
    lookups: Lookups = NOTHING_LOOKED_UP,
    ancestors: Sequence[dict[str, Any]] = (),
) -> Plan:
    if (body.get("spec") or {}).get("actionType") == c.ACTION_TYPE_CONDITION:
        plan = reconcile_condition(body, now)
        if needs_parent(body):
            gate = ownership.decide(body, parent, ancestors)
            if gate.owner_references is not None:
                plan.metadata_patch = {"ownerReferences": gate.owner_references}
        return plan
    return reconcile_task(body, pod, parent, now, settings, lookups, ancestors)
