"""The answers to a reconcile's lookups (Plan.lookup), carried into the next decision of the same reconcile.

A refused pod create is one more: the shell could not do what the plan said, and the decision says what that means
for the action."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..catalog.client import CacheAnswer, Reservation
from ..pods.podtemplate import PodTemplateLookup
from ..storage.inputs import InputsLookup
from ..storage.outputs import OutputCheck
from .plan import CacheGet, CacheLookup, CachePut, CacheRelease, CacheReserve, FindPodTemplate, Lookup, ReadInputs, ReadOutputs

_CACHE_FIELDS = {CacheGet: "cache_get", CachePut: "cache_put", CacheReserve: "cache_reservation", CacheRelease: "cache_release"}


@dataclass(frozen=True)
class CreateRefused:
    """The API server refused the pod the plan asked to create."""

    http_status: int
    message: str


@dataclass(frozen=True)
class Lookups:
    pod_template: PodTemplateLookup | None = None
    inputs: InputsLookup | None = None
    outputs: OutputCheck | None = None
    create_refused: CreateRefused | None = None
    cache_get: CacheAnswer | None = None
    cache_put: CacheAnswer | None = None
    cache_reservation: Reservation | None = None
    cache_release: str | None = None  # why the release failed, "" when it did not

    def answers(self, request: Lookup) -> bool:
        if isinstance(request, FindPodTemplate):
            return self.pod_template is not None and self.pod_template.name == request.name
        if isinstance(request, ReadInputs):
            return self.inputs is not None
        if type(request) in _CACHE_FIELDS:
            return self.cache_answer(request) is not None  # type: ignore[arg-type]
        return self.outputs is not None

    def cache_answer(self, request: CacheLookup) -> Any:
        return getattr(self, _CACHE_FIELDS[type(request)])

    def with_answer(self, request: Lookup, answer: Any) -> Lookups:
        if isinstance(request, FindPodTemplate):
            return replace(self, pod_template=PodTemplateLookup(request.name, answer))
        if isinstance(request, ReadInputs):
            return replace(self, inputs=answer)
        if type(request) in _CACHE_FIELDS:
            return replace(self, **{_CACHE_FIELDS[type(request)]: answer})
        assert isinstance(request, ReadOutputs)
        return replace(self, outputs=answer)


NOTHING_LOOKED_UP = Lookups()
