"""Callers of the actions service: ServiceAccounts (with or without RBAC on TaskActions), their tokens minted by the
real API server's TokenRequest (bound to a pod, as the kubelet mints a projected token, or not), and the Connect client
interceptor that presents one as the Flyte SDK does (`authorization: Bearer <token>`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectrpc.request import RequestContext

from tests.support.kube import Kube

AUDIENCE = "taskaction-actions"  # TASKACTION_ACTIONS_SERVICE_TOKEN_AUDIENCE's default


def service_account(kube: Kube, namespace: str, name: str, verbs: tuple[str, ...] = ()) -> str:
    """A ServiceAccount, and a Role + RoleBinding giving it `verbs` on TaskActions of the namespace when there are any."""
    kube.run("create", "serviceaccount", name, "-n", namespace)
    if verbs:
        role = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": namespace},
            "rules": [{"apiGroups": ["flyte.org"], "resources": ["taskactions"], "verbs": list(verbs)}],
        }  # fmt: skip
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        }  # fmt: skip
        kube.run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": [role, binding]}))
    return name


def token(kube: Kube, namespace: str, account: str, *, audience: str = AUDIENCE, pod: Mapping[str, Any] | None = None) -> str:
    """A token of `account` for `audience`, bound to `pod` when given (what a projected volume holds)."""
    args = ["create", "token", account, "-n", namespace, "--audience", audience, "--duration", "10m"]
    if pod is not None:
        args += ["--bound-object-kind", "Pod", "--bound-object-name", pod["metadata"]["name"], "--bound-object-uid", pod["metadata"]["uid"]]
    return kube.run(*args).stdout.strip()


class BearerToken:
    """A Connect client interceptor presenting a token on every call."""

    def __init__(self, token: str):
        self.token = token

    async def on_start(self, ctx: RequestContext) -> None:
        ctx.request_headers()["authorization"] = f"Bearer {self.token}"

    async def on_end(self, token: None, ctx: RequestContext, error: Exception | None) -> None:
        return None
