"""The `flyteidl2.actions.ActionsService` RPCs over TaskActions (actions/service/actions_service.go).

Errors use the codes the SDK's controller acts on: INVALID_ARGUMENT and NOT_FOUND fail the child at once,
ALREADY_EXISTS means "already enqueued, keep watching", UNAVAILABLE is retried with backoff.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from flyteidl2.actions import actions_service_pb2 as pb
from flyteidl2.common import identifier_pb2

from .. import metrics
from ..api import constants as c
from ..client import errors, signals
from ..kube import ApiError, KubeApi
from ..pods.naming import taskaction_name
from . import enqueue, updates
from .access import Access
from .auth import Gate, Open
from .hub import UpdateHub, key_of

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 30.0

Response = TypeVar("Response")


def counted(method: str) -> Callable[[Callable[..., Awaitable[Response]]], Callable[..., Awaitable[Response]]]:
    """taskaction_actions_service_requests_total{method, code} for a unary RPC."""

    def decorate(rpc: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
        @functools.wraps(rpc)
        async def wrapper(*args, **kwargs) -> Response:
            try:
                response = await rpc(*args, **kwargs)
            except ConnectError as exc:
                metrics.ACTIONS_SERVICE_REQUESTS.labels(method, exc.code.name.lower()).inc()
                raise
            except Exception:
                metrics.ACTIONS_SERVICE_REQUESTS.labels(method, "internal").inc()
                log.exception("%s failed", method)
                raise
            metrics.ACTIONS_SERVICE_REQUESTS.labels(method, "ok").inc()
            return response

        return wrapper

    return decorate


def api_failure(exc: ApiError, what: str) -> ConnectError:
    if exc.status == 422:
        return ConnectError(Code.INVALID_ARGUMENT, f"{what} was refused by the API server: {exc.message}")
    if exc.status == 403:
        return ConnectError(Code.PERMISSION_DENIED, f"{what}: {exc.message}")
    return ConnectError(Code.UNAVAILABLE, f"{what} failed: {exc}")


def access(rpc: str, verb: str, action_id: identifier_pb2.ActionIdentifier, parent: str | None = None) -> Access:
    run = action_id.run
    return Access(rpc, verb, run.project, run.domain, run.name, action_id.name, parent)


class ActionsService:
    """Every RPC first asks the gate (actions/auth.py) whether its caller may make it."""

    def __init__(self, api: KubeApi, namespace: str, hub: UpdateHub, gate: Gate | None = None):
        self.api = api
        self.namespace = namespace
        self.hub = hub
        self.gate = gate or Open()
        self._namespace_ready = False

    @counted("Enqueue")
    async def enqueue(self, request: pb.EnqueueRequest, ctx: RequestContext) -> pb.EnqueueResponse:
        action = request.action
        await self.gate.check(ctx, access("Enqueue", "create", action.action_id, enqueue.parent_of(action)))
        try:
            kind = enqueue.kind_of(action)
            enqueue.validate(action, self.namespace)
        except enqueue.InvalidAction as exc:
            raise ConnectError(Code.INVALID_ARGUMENT, str(exc)) from exc
        if kind == "trace":
            parent = enqueue.parent_of(action)
            if parent is None:
                raise ConnectError(Code.INVALID_ARGUMENT, "a trace action needs a parent_action_name")
            self.hub.record_trace(key_of(action.action_id.run, parent), updates.trace_update(action))
            return pb.EnqueueResponse()
        name = taskaction_name(action.action_id.run.name, action.action_id.name)
        try:
            parent = await self._parent(action)
            body = enqueue.taskaction_for(action, self.namespace, request.run_spec if request.HasField("run_spec") else None, parent)
            await self._create(body)
        except enqueue.InvalidAction as exc:
            raise ConnectError(Code.INVALID_ARGUMENT, str(exc)) from exc
        except ApiError as exc:
            if exc.status != 409:
                raise api_failure(exc, f"creating TaskAction {self.namespace}/{name}") from exc
            if kind == "task":
                raise ConnectError(Code.ALREADY_EXISTS, f"TaskAction {self.namespace}/{name} already exists") from exc
        log.info("Enqueued %s action %s/%s", kind, self.namespace, name)
        return pb.EnqueueResponse()

    async def _create(self, body: dict) -> None:
        """EnsureNamespaceExists once, not before every create: a namespace deleted later shows as a 404 and is
        made again."""
        if not self._namespace_ready:
            await self.api.ensure_namespace(self.namespace)
            self._namespace_ready = True
        try:
            await self.api.create_taskaction(self.namespace, body)
        except ApiError as exc:
            if exc.status != 404:
                raise
            await self.api.ensure_namespace(self.namespace)
            await self.api.create_taskaction(self.namespace, body)

    async def _parent(self, action: pb.Action) -> dict | None:
        """The parent as the watch saw it (it exists before its children are enqueued), else read live."""
        name = enqueue.parent_name(action)
        if name is None:
            return None
        parent = self.hub.parent(name) or await self.api.get_taskaction(self.namespace, name)
        if parent is None:
            raise ConnectError(Code.NOT_FOUND, f"parent TaskAction {self.namespace}/{name} does not exist")
        return parent

    async def watch_for_updates(self, request: pb.WatchForUpdatesRequest, ctx: RequestContext) -> AsyncIterator[pb.WatchForUpdatesResponse]:
        parent = request.parent_action_id
        if not parent.name or not parent.run.name:
            raise ConnectError(Code.INVALID_ARGUMENT, "parent_action_id needs a run name and an action name")
        try:
            await self.gate.check(ctx, access("WatchForUpdates", "watch", parent))
        except ConnectError as exc:
            metrics.ACTIONS_SERVICE_REQUESTS.labels("WatchForUpdates", exc.code.name.lower()).inc()
            raise
        try:
            await asyncio.wait_for(self.hub.ready.wait(), READY_TIMEOUT_SECONDS)
        except TimeoutError as exc:
            raise ConnectError(Code.UNAVAILABLE, f"the TaskAction watch of namespace {self.namespace} is not up yet") from exc
        metrics.ACTIONS_SERVICE_REQUESTS.labels("WatchForUpdates", "ok").inc()
        metrics.ACTIONS_SERVICE_WATCHERS.inc()
        try:
            async for update in self.hub.subscribe(key_of(parent.run, parent.name)):
                yield updates.SENTINEL if update is None else updates.update_response(update)
        finally:
            metrics.ACTIONS_SERVICE_WATCHERS.dec()

    @counted("Abort")
    async def abort(self, request: pb.AbortRequest, ctx: RequestContext) -> pb.AbortResponse:
        """Delete the action's TaskAction; its descendants and pods go through the garbage collector."""
        await self.gate.check(ctx, access("Abort", "delete", request.action_id))
        name = taskaction_name(request.action_id.run.name, request.action_id.name)
        try:
            deleted = await self.api.delete_taskaction(self.namespace, name)
        except ApiError as exc:
            raise api_failure(exc, f"deleting TaskAction {self.namespace}/{name}") from exc
        if not deleted:
            raise ConnectError(Code.NOT_FOUND, f"TaskAction {self.namespace}/{name} does not exist")
        log.info("Aborted %s/%s (%s)", self.namespace, name, request.reason or "no reason given")
        return pb.AbortResponse()

    @counted("Signal")
    async def signal(self, request: pb.SignalRequest, ctx: RequestContext) -> pb.SignalResponse:
        await self.gate.check(ctx, access("Signal", "patch", request.action_id))
        name = taskaction_name(request.action_id.run.name, request.action_id.name)
        who = request.signalled_by.user.id.subject or request.signalled_by.application.id.subject
        try:
            await signals.signal(self.api, name, request.value, who or "actions-service", self.namespace)
        except errors.NotFound as exc:
            raise ConnectError(Code.NOT_FOUND, str(exc)) from exc
        except errors.InvalidSignal as exc:
            raise ConnectError(Code.INVALID_ARGUMENT, str(exc)) from exc
        except errors.SignalRefused as exc:
            raise ConnectError(Code.FAILED_PRECONDITION, str(exc)) from exc
        except ApiError as exc:
            raise api_failure(exc, f"signalling TaskAction {self.namespace}/{name}") from exc
        return pb.SignalResponse()

    @counted("Update")
    async def update(self, request: pb.UpdateRequest, ctx: RequestContext) -> pb.UpdateResponse:
        await self.gate.check(ctx, access("Update", "patch", request.action_id))
        # Upstream writes status.attempts / cacheStatus from this call; here the operator is their only writer (a
        # second writer of attempts would rename the next pod and move the output prefix under its feet).
        raise ConnectError(
            Code.UNIMPLEMENTED,
            f"Update is not served: the operator alone writes a {c.KIND}'s attempts and cache status",
        )
