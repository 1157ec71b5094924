"""What one reconcile decided to do. Controller.apply carries a Plan out, in this order:
pod deletion, pod creation, metadata patch, status patch, terminal labels, finalizer removal, events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class Plan:
    metadata_patch: dict[str, Any] | None = None  # merge patch of labels / ownerReferences / finalizers
    delete_pod: str | None = None
    create_pod: dict[str, Any] | None = None
    status_patch: dict[str, Any] | None = None  # merge patch of status
    terminal_labels: dict[str, str] | None = None
    remove_finalizer: bool = False
    events: list[Event] = field(default_factory=list)
    requeue_after: float | None = None
    waiting_for_parent: str | None = None  # name of the parent TaskAction this one waits for
    check_outputs: str | None = None  # the pod succeeded: read this output prefix, then decide again
    needs_pod_template: str | None = None  # a pod is to be made on this PodTemplate: look it up, then decide again
    needs_inputs: str | None = None  # the command uses {{.Inputs.x}}: read this inputs.pb, then decide again

    def requeue(self, seconds: float) -> None:
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)
