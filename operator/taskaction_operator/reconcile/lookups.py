"""The answers to a reconcile's lookups (Plan.lookup), carried into the next decision of the same reconcile.

A refused pod create is one more: the shell could not do what the plan said, and the decision says what that means
for the action."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..catalog.client import CacheAnswer
from ..pods.podtemplate import PodTemplateLookup
from ..storage.inputs import InputsLookup
from ..storage.outputs import OutputCheck
from .plan import CacheGet, CachePut, FindPodTemplate, Lookup, ReadInputs, ReadOutputs


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

    def answers(self, request: Lookup) -> bool:
        if isinstance(request, FindPodTemplate):
            return self.pod_template is not None and self.pod_template.name == request.name
        if isinstance(request, ReadInputs):
            return self.inputs is not None
        if isinstance(request, CacheGet):
            return self.cache_get is not None
        if isinstance(request, CachePut):
            return self.cache_put is not None
        return self.outputs is not None

    def with_answer(self, request: Lookup, answer: Any) -> Lookups:
        if isinstance(request, FindPodTemplate):
            return replace(self, pod_template=PodTemplateLookup(request.name, answer))
        if isinstance(request, ReadInputs):
            return replace(self, inputs=answer)
        if isinstance(request, CacheGet):
            return replace(self, cache_get=answer)
        if isinstance(request, CachePut):
            return replace(self, cache_put=answer)
        assert isinstance(request, ReadOutputs)
        return replace(self, outputs=answer)


NOTHING_LOOKED_UP = Lookups()
