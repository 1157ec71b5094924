"""Who may call the actions service, and for what: pure decisions over what the API server said of a caller.

- A caller presents a Kubernetes ServiceAccount token (`authorization: Bearer <token>`, what the Flyte SDK sends
  with FLYTE_AUTH_TYPE=ExternalCommand); its TokenReview gives the `Identity`.
- A task pod (a token bound to a pod the operator made for a TaskAction) may act only inside its own run: enqueue
  children of its own action, abort, signal and watch actions of its run (`task_pod_refusal`).
- Anyone else (people, controllers) needs the RBAC verb the call stands for on TaskActions in the service's
  namespace, asked by SubjectAccessReview (`access_review`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..api import constants as c

POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
POD_UID_EXTRA = "authentication.kubernetes.io/pod-uid"
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
BEARER = "bearer "


class Unauthenticated(Exception):
    """No token, or one the API server does not accept for the service's audience (UNAUTHENTICATED)."""


class Refused(Exception):
    """An authenticated caller that may not make this call (PERMISSION_DENIED); the message names the rule."""


@dataclass(frozen=True)
class Identity:
    username: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def bound_pod(self) -> tuple[str, str, str] | None:
        """(namespace, name, uid) of the pod a ServiceAccount token is bound to, None for any other token."""
        if not self.username.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        names, uids = self.extra.get(POD_NAME_EXTRA) or (), self.extra.get(POD_UID_EXTRA) or ()
        if len(names) != 1 or len(uids) != 1:
            return None
        namespace = self.username[len(SERVICE_ACCOUNT_PREFIX) :].split(":", 1)[0]
        return namespace, names[0], uids[0]


@dataclass(frozen=True)
class Access:
    """What one call asks for: the RPC, the TaskAction verb a person needs for it, the run and action it touches."""

    rpc: str
    verb: str
    project: str
    domain: str
    run: str
    action: str
    parent: str | None = None  # Enqueue: the parent the new action names (None: a root)

    @property
    def run_key(self) -> tuple[str, str, str]:
        return self.project, self.domain, self.run


@dataclass(frozen=True)
class TaskPodScope:
    """The run and action of the TaskAction a task pod runs: all that pod may act on."""

    pod: str
    project: str
    domain: str
    run: str
    action: str

    @property
    def run_key(self) -> tuple[str, str, str]:
        return self.project, self.domain, self.run


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization or not authorization.lower().startswith(BEARER) or not authorization[len(BEARER) :].strip():
        raise Unauthenticated("no token: send a Kubernetes ServiceAccount token as 'Authorization: Bearer <token>'")
    return authorization[len(BEARER) :].strip()


def identity_of(review: Mapping[str, Any], audience: str) -> Identity:
    """The caller a TokenReview's status names; Unauthenticated when the API server did not accept the token."""
    if not review.get("authenticated"):
        reason = review.get("error") or "not authenticated"
        raise Unauthenticated(f"the token was not accepted for audience {audience!r}: {reason}")
    user = review.get("user") or {}
    extra = {key: tuple(values or ()) for key, values in (user.get("extra") or {}).items()}
    return Identity(user.get("username", ""), user.get("uid", ""), tuple(user.get("groups") or ()), extra)


def task_pod_scope(pod: Mapping[str, Any], pod_uid: str, taskaction: Mapping[str, Any]) -> TaskPodScope:
    """The scope of a pod the token is bound to, given the TaskAction its controller reference names."""
    meta = pod.get("metadata") or {}
    if meta.get("uid") != pod_uid:
        raise Unauthenticated(f"the token is bound to a pod {meta.get('name')!r} that no longer exists")
    owner = owning_taskaction(pod)
    if owner is None or owner[1] != (taskaction.get("metadata") or {}).get("uid"):
        raise Refused(f"pod {meta.get('name')}'s TaskAction is gone")
    spec = taskaction.get("spec") or {}
    return TaskPodScope(meta.get("name", ""), spec.get("project", ""), spec.get("domain", ""), spec.get("runName", ""), spec.get("actionName", ""))


def owning_taskaction(pod: Mapping[str, Any]) -> tuple[str, str] | None:
    """(name, uid) of the TaskAction that controls the pod (the operator's task pods), None for any other pod."""
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == c.KIND and ref.get("apiVersion") == c.API_VERSION:
            return ref.get("name", ""), ref.get("uid", "")
    return None


def task_pod_refusal(access: Access, scope: TaskPodScope) -> str | None:
    """Why a task pod may not make this call, None when it may."""
    if access.run_key != scope.run_key:
        project, domain, run = access.run_key
        return (
            f"task pod {scope.pod} (run {scope.run}, action {scope.action}) may only act inside its own run, "
            f"not in run {run} of {project}/{domain}"
        )
    if access.rpc == "Enqueue" and access.parent != scope.action:
        named = f"of action {access.parent}" if access.parent else "as a root"
        return f"task pod {scope.pod} may only enqueue children of its own action {scope.action}, not {named}"
    return None


def access_review(identity: Identity, access: Access, namespace: str) -> dict[str, Any]:
    """The SubjectAccessReview spec for a caller that is no task pod: the call's verb on TaskActions."""
    return {
        "user": identity.username,
        "uid": identity.uid,
        "groups": list(identity.groups),
        "extra": {key: list(values) for key, values in identity.extra.items()},
        "resourceAttributes": {"group": c.GROUP, "resource": c.PLURAL, "verb": access.verb, "namespace": namespace},
    }


def access_refusal(identity: Identity, access: Access, namespace: str, review: Mapping[str, Any]) -> str | None:
    """Why the SubjectAccessReview's answer refuses the call, None when it allows it."""
    if review.get("allowed") and not review.get("denied"):
        return None
    reason = f" ({review['reason']})" if review.get("reason") else ""
    return f"{identity.username} may not {access.verb} {c.PLURAL}.{c.GROUP} in namespace {namespace}, which {access.rpc} needs{reason}"
