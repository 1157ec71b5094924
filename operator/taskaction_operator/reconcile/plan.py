"""What one reconcile decided to do. Controller.apply carries a Plan out, in this order:
pod creation, metadata patch, status patch, pod deletion, terminal labels, finalizer removal, events.
The status is recorded before a pod is deleted: a crash between the two then leaves a pod too many (found and
deleted by the next decision), never an attempt whose end was not counted.

A plan may instead ask for one lookup (`lookup`): something only I/O can tell. The shell looks it up, puts the
answer in the Lookups, and asks for the decision again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass(frozen=True)
class FindPodTemplate:
    """A pod is to be made on this PodTemplate: find it (the task's namespace first, then the fallback)."""

    name: str


@dataclass(frozen=True)
class ReadInputs:
    """The command uses `{{.Inputs.x}}`: read this inputs.pb."""

    uri: str


@dataclass(frozen=True)
class ReadOutputs:
    """The pod succeeded: read error.pb and outputs.pb under this output prefix."""

    prefix: str


@dataclass(frozen=True)
class CacheGet:
    """A cacheable task is to run: ask the cache service for `key`; a hit's outputs go to `outputs_uri`."""

    key: str
    task_id: Any  # flyteidl2.core.Identifier of the template
    outputs_uri: str


@dataclass(frozen=True)
class CachePut:
    """A cacheable task succeeded: write its outputs (`outputs_uri`) back under `key`."""

    key: str
    task_id: Any  # flyteidl2.core.Identifier of the template
    outputs_uri: str
    execution: Any  # catalog.client.Execution: the attempt, as the entry's metadata


@dataclass(frozen=True)
class CacheReserve:
    """A serializable cacheable task: take or extend the reservation of `key` for `owner`."""

    key: str
    task_id: Any
    owner: str
    heartbeat_seconds: float


@dataclass(frozen=True)
class CacheRelease:
    """The launch that held the reservation of `key` is over: let it go."""

    key: str
    task_id: Any
    owner: str


CacheLookup = CacheGet | CachePut | CacheReserve | CacheRelease
Lookup = FindPodTemplate | ReadInputs | ReadOutputs | CacheLookup


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
    lookup: Lookup | None = None  # nothing else to do yet: look this up, then decide again

    def requeue(self, seconds: float) -> None:
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)
