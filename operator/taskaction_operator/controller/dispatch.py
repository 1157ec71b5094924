"""Choose the reconcile of an action by its type; both kinds of child get their parent reference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..api import constants as c
from ..pods.podtemplate import PodTemplateLookup
from ..settings import Settings
from ..storage.inputs import InputsLookup
from ..storage.outputs import OutputCheck
from . import ownership
from . import status as st
from .condition import reconcile_condition
from .decisions import reconcile_task
from .plan import Plan


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
    outputs: OutputCheck | None = None,
    pod_template: PodTemplateLookup | None = None,
    inputs: InputsLookup | None = None,
) -> Plan:
    if (body.get("spec") or {}).get("actionType") == c.ACTION_TYPE_CONDITION:
        plan = reconcile_condition(body, now)
        if needs_parent(body):
            gate = ownership.decide(body, parent)
            if gate.owner_references is not None:
                plan.metadata_patch = {"ownerReferences": gate.owner_references}
        return plan
    return reconcile_task(body, pod, parent, now, settings, outputs, pod_template, inputs)
