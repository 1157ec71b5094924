"""Choose the reconcile of an action by its type; both kinds of child get their parent reference."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Observed:
    """What the shell saw of one action: the TaskAction, the pod of its current attempt, its parent and the parent's
    ancestors (as far as known)."""

    body: dict[str, Any]
    pod: dict[str, Any] | None = None
    parent: dict[str, Any] | None = None
    ancestors: Sequence[dict[str, Any]] = ()
    # Why a new attempt may not start now (a concurrency limit, controller/admission.py); None: it may.
    start_blocked: str | None = None


def reconcile(seen: Observed, now: datetime, settings: Settings, lookups: Lookups = NOTHING_LOOKED_UP) -> Plan:
    body = seen.body
    if (body.get("spec") or {}).get("actionType") == c.ACTION_TYPE_CONDITION:
        plan = reconcile_condition(body, now)
        if needs_parent(body):
            gate = ownership.decide(body, seen.parent, seen.ancestors)
            if gate.owner_references is not None:
                plan.metadata_patch = {"ownerReferences": gate.owner_references}
        return plan
    return reconcile_task(body, seen.pod, seen.parent, now, settings, lookups, seen.ancestors, seen.start_blocked)
