"""TaskAction bodies the client tests share, and a recording fake of the API (no cluster)."""

from __future__ import annotations

import base64
from typing import Any

from flyteidl2.core import types_pb2

from taskaction_operator.client.literals import to_literal
from taskaction_operator.client.manifests import condition_body, container_template
from taskaction_operator.kube import ApiError

TEMPLATE = container_template("busybox", ["true"])


def cond(type_: str, status: str, reason: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}


PARENT = {
    "apiVersion": "flyte.org/v1",
    "kind": "TaskAction",
    "metadata": {
        "name": "hello-a0", "namespace": "flyte", "uid": "u-1",
        "labels": {"flyte.org/action": "a0", "flyte.org/is-root": "true", "team": "ml", "tier": "gold"},
        "annotations": {"owner": "ada", "x": "parent"},
    },
    "spec": {
        "runName": "hello", "project": "p", "domain": "d", "actionName": "a0", "runOutputBase": "s3://b/p/d/hello/",
        "envVars": {"A": "parent", "B": "parent"}, "interruptible": True,
    },
}


def ta(action: str, parent: str | None, conditions: list, created: str = "2026-01-01T00:00:00Z", history: list | None = None) -> dict:
    return {
        "metadata": {"name": f"r-{action}", "namespace": "flyte", "creationTimestamp": created},
        "spec": {"runName": "r", "actionName": action, **({"parentActionName": parent} if parent else {}), "runOutputBase": "s3://b/r/"},
        "status": {"conditions": conditions, "phaseHistory": history or []},
    }


RUNNING = [cond("Progressing", "True", "Executing")]
DONE = [cond("Progressing", "False", "Completed"), cond("Succeeded", "True", "Completed")]


def signalled(value: Any = None, conditions: list | None = None, simple: int = types_pb2.BOOLEAN, by: str = "alice") -> dict:
    body = condition_body(PARENT, action="approve", simple_type=simple)
    body["status"] = {"conditions": conditions or [cond("Progressing", "True", "Paused")]}
    if value is not None:
        body["status"]["signalValue"] = base64.b64encode(to_literal(value).SerializeToString(deterministic=True)).decode()
        body["status"]["signalledBy"] = by
    return body


class FakeApi:
    """Records calls; holds TaskActions by name."""

    def __init__(self, *objects: dict[str, Any]):
        self.objects = {o["metadata"]["name"]: o for o in objects}
        self.calls: list[tuple[str, Any]] = []
        self.conflicts = 0

    async def ensure_namespace(self, namespace: str) -> bool:
        self.calls.append(("namespace", namespace))
        return False

    async def get_taskaction(self, namespace: str, name: str) -> dict | None:
        return self.objects.get(name)

    async def create_taskaction(self, namespace: str, body: dict) -> dict:
        if body["metadata"]["name"] in self.objects:
            raise ApiError(409, "AlreadyExists", "exists")
        self.calls.append(("create", body))
        body = {**body, "metadata": {"uid": f"uid-{len(self.objects)}", **body["metadata"]}}
        self.objects[body["metadata"]["name"]] = body
        return body

    async def patch_taskaction_status(self, namespace: str, name: str, patch: dict) -> dict:
        if self.conflicts:
            self.conflicts -= 1
            raise ApiError(409, "Conflict", "the object has been modified")
        self.calls.append(("status", patch))
        self.objects[name]["status"].update(patch["status"])
        return self.objects[name]
