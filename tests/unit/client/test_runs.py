"""Creating runs and submitting manifests against a recording fake of the API (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from taskaction_operator.client import errors, runs

from .builders import PARENT, TEMPLATE, FakeApi


def test_order_for_submit_puts_parents_first() -> None:
    def doc(action: str, parent: str | None) -> dict[str, Any]:
        return {"spec": {"runName": "r", "actionName": action, **({"parentActionName": parent} if parent else {})}}

    ordered = runs.order_for_submit([doc("leaf", "mid"), doc("mid", "a0"), doc("a0", None), doc("other", "elsewhere")])
    names = [d["spec"]["actionName"] for d in ordered]
    assert names.index("a0") < names.index("mid") < names.index("leaf")
    assert "other" in names


async def test_create_child_needs_its_parent_and_validates_first() -> None:
    api = FakeApi()
    with pytest.raises(errors.NotFound, match="parent TaskAction flyte/hello-a0 .* does not exist"):
        await runs.create_child(api, TEMPLATE, run="hello", action="train")
    with pytest.raises(errors.InvalidName):
        await runs.create_child(api, TEMPLATE, run="hello", action="x" * 31)
    assert api.calls == []
    api = FakeApi(PARENT)
    created = await runs.create_child(api, TEMPLATE, run="hello", action="train")
    assert created["metadata"]["ownerReferences"][0]["name"] == "hello-a0"
    with pytest.raises(errors.ClientError, match="flyte/hello-train already exists"):
        await runs.create_child(api, TEMPLATE, run="hello", action="train")


async def test_submit_of_a_manifest_adds_labels_inheritance_and_owner() -> None:
    api = FakeApi(PARENT)
    body = {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "metadata": {},
            "spec": {"runName": "hello", "project": "p", "domain": "d", "actionName": "eval", "parentActionName": "a0"}}
    created = await runs.submit(api, body, namespace="flyte")
    assert api.calls[0] == ("namespace", "flyte")
    assert created["metadata"]["name"] == "hello-eval"
    assert created["metadata"]["labels"]["team"] == "ml" and created["metadata"]["labels"]["flyte.org/is-root"] == "false"
    assert created["spec"]["envVars"] == {"A": "parent", "B": "parent"}
    assert len(created["metadata"]["ownerReferences"]) == 1
    with pytest.raises(errors.InvalidName, match="should be 'hello-x'"):
        await runs.submit(api, {**body, "metadata": {"name": "wrong"}, "spec": {**body["spec"], "actionName": "x"}})
    with pytest.raises(errors.ClientError, match="spec.project is missing"):
        await runs.submit(api, {"metadata": {}, "spec": {"runName": "r", "actionName": "a0", "domain": "d"}})


class NamespacedApi(FakeApi):
    """A caller with rights in its namespace only: namespaces cannot be read (403), or not at all (the API fails)."""

    def __init__(self, status: int):
        super().__init__()
        self.status = status

    async def ensure_namespace(self, namespace: str) -> bool:
        from taskaction_operator.kube import ApiError

        raise ApiError(self.status, "Forbidden" if self.status == 403 else "InternalError", "namespaces is forbidden")


async def test_submit_without_rights_on_namespaces_still_creates() -> None:
    body = {"metadata": {}, "spec": {"runName": "r", "project": "p", "domain": "d", "actionName": "a0"}}
    api = NamespacedApi(403)
    assert (await runs.submit(api, body, namespace="team"))["metadata"]["name"] == "r-a0"
    with pytest.raises(Exception, match="namespaces is forbidden"):
        await runs.submit(NamespacedApi(500), body, namespace="team")
