"""The actions service's gate: every call is authenticated by TokenReview and authorized as `access` decides, the
answers of the API server kept for a short while (TASKACTION_ACTIONS_SERVICE_AUTH_CACHE_SECONDS) per token.

A token bound to a pod that is gone is refused once the API server says so: it checks the pod of a bound token on
every review (its own token cache keeps a success for 10 s), and this cache adds its TTL.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext

from .. import metrics
from ..kube import ApiError, KubeApi
from .access import (
    Access,
    Identity,
    Refused,
    TaskPodScope,
    Unauthenticated,
    access_refusal,
    access_review,
    bearer_token,
    identity_of,
    owning_taskaction,
    task_pod_refusal,
    task_pod_scope,
)

log = logging.getLogger(__name__)

MAX_CACHED = 10_000
Outcome = tuple[Any, type[Exception] | None, str]  # (value, refusal, its message)


class TtlCache:
    """Bounded (the oldest entries go first) and each entry forgotten `seconds` after it was put."""

    def __init__(self, seconds: float, size: int = MAX_CACHED, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._entries: collections.OrderedDict[Any, tuple[float, Any]] = collections.OrderedDict()

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry[0]:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: Any, value: Any) -> None:
        if self.seconds <= 0:
            return
        self._entries.pop(key, None)
        self._entries[key] = (self.clock() + self.seconds, value)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class TaskActions(Protocol):
    def parent(self, name: str) -> dict[str, Any] | None: ...


class Gate(Protocol):
    async def check(self, ctx: RequestContext, access: Access) -> None: ...


class Open:
    """TASKACTION_ACTIONS_SERVICE_AUTH=false: every caller may do everything."""

    async def check(self, ctx: RequestContext, access: Access) -> None:
        return None


class TokenGate:
    def __init__(self, api: KubeApi, namespace: str, audience: str, cache_seconds: float, taskactions: TaskActions):
        self.api = api
        self.namespace = namespace
        self.audience = audience
        self.taskactions = taskactions
        self.cache = TtlCache(cache_seconds)

    async def check(self, ctx: RequestContext, access: Access) -> None:
        """Returns when the caller may make the call; raises UNAUTHENTICATED / PERMISSION_DENIED / UNAVAILABLE."""
        try:
            await self._check(ctx.request_headers().get("authorization"), access)
        except Unauthenticated as exc:
            raise ConnectError(Code.UNAUTHENTICATED, f"{access.rpc}: {exc}") from None
        except Refused as exc:
            log.warning("Refused %s of %s/%s: %s", access.rpc, access.run, access.action, exc)
            raise ConnectError(Code.PERMISSION_DENIED, f"{access.rpc}: {exc}") from None
        except ApiError as exc:
            raise ConnectError(Code.UNAVAILABLE, f"{access.rpc}: could not ask the API server who is calling: {exc}") from exc

    async def _check(self, authorization: str | None, access: Access) -> None:
        token = hashlib.sha256(bearer_token(authorization).encode()).hexdigest()
        identity: Identity = await self._cached(("identity", token), lambda: self._identity(authorization))
        scope: TaskPodScope | None = await self._cached(("scope", token), lambda: self._task_pod_scope(identity))
        if scope is not None:
            refusal = task_pod_refusal(access, scope)
        else:
            review = await self._cached(("access", token, access.verb), lambda: self._review_access(identity, access))
            refusal = access_refusal(identity, access, self.namespace, review)
        if refusal:
            raise Refused(refusal)

    async def _cached(self, key: tuple, compute: Callable[[], Awaitable[Any]]) -> Any:
        """The value or refusal remembered for `key`, else computed and remembered (API failures are not)."""
        outcome: Outcome | None = self.cache.get(key)
        if outcome is None:
            try:
                outcome = (await compute(), None, "")
            except (Unauthenticated, Refused) as exc:
                outcome = (None, type(exc), str(exc))
            self.cache.put(key, outcome)
        value, refusal, message = outcome
        if refusal is not None:
            raise refusal(message)
        return value

    async def _identity(self, authorization: str | None) -> Identity:
        metrics.ACTIONS_SERVICE_REVIEWS.labels("token").inc()
        return identity_of(await self.api.review_token(bearer_token(authorization), [self.audience]), self.audience)

    async def _task_pod_scope(self, identity: Identity) -> TaskPodScope | None:
        """What the token's pod may act on when it is one of the operator's task pods, None for any other caller."""
        bound = identity.bound_pod
        if bound is None:
            return None
        namespace, name, uid = bound
        if namespace != self.namespace:
            raise Refused(f"pod {namespace}/{name} is not in namespace {self.namespace}, the one this service serves")
        pod = await self.api.get_pod(namespace, name)
        if pod is None:
            raise Unauthenticated(f"the token is bound to pod {namespace}/{name}, which no longer exists")
        owner = owning_taskaction(pod)
        if owner is None:
            return None  # a pod of some controller: authorized as its ServiceAccount
        taskaction = self.taskactions.parent(owner[0]) or await self.api.get_taskaction(namespace, owner[0])
        if taskaction is None:
            raise Refused(f"the TaskAction {namespace}/{owner[0]} of pod {name} no longer exists")
        return task_pod_scope(pod, uid, taskaction)

    async def _review_access(self, identity: Identity, access: Access) -> dict[str, Any]:
        metrics.ACTIONS_SERVICE_REVIEWS.labels("access").inc()
        return await self.api.review_access(access_review(identity, access, self.namespace))
