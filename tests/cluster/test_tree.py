"""A run of three levels applied with plain `kubectl apply` (no ownerReferences in the YAML): the operator links
each child to its parent, and deleting the root removes every TaskAction and pod of the tree through the real
garbage collector."""

from __future__ import annotations

import json

import yaml

from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, progressing_reason
from tests.support.waiting import wait_until

RUN = "tree"
LEVELS = [("a0", None), ("left", "a0"), ("right", "a0"), ("leaf", "left")]


def tree_yaml() -> str:
    docs = []
    for action, parent in reversed(LEVELS):  # children first: they must wait for their parents
        doc = taskaction(
            container_template("busybox", ["sleep", "3600"]),
            run=RUN,
            action=action,
            parent=parent,
            labels={"sim.taskaction.dev/outcome": "running"},
        )
        del doc["metadata"]["namespace"]
        docs.append(doc)
    return yaml.safe_dump_all(docs)


def test_three_levels_applied_by_kubectl_get_owner_references_and_cascade(kube: Kube, operator, namespace: str, tmp_path) -> None:
    path = tmp_path / "tree.yaml"
    path.write_text(tree_yaml())
    kube.apply_file(path, namespace)
    uids = {}
    for action, _ in LEVELS:
        ta = kube.wait("taskaction", f"{RUN}-{action}", namespace, lambda o: progressing_reason(o) == "Executing", "Executing")
        uids[action] = ta["metadata"]["uid"]
    for action, parent in LEVELS:
        ta = kube.get("taskaction", f"{RUN}-{action}", namespace)
        refs = ta["metadata"].get("ownerReferences", [])
        if parent is None:
            assert refs == []
        else:
            assert refs == [
                {
                    "apiVersion": "flyte.org/v1",
                    "kind": "TaskAction",
                    "name": f"{RUN}-{parent}",
                    "uid": uids[parent],
                    "blockOwnerDeletion": True,
                }
            ]
        assert kube.get("pod", f"{RUN}-{action}-0", namespace) is not None

    kube.delete("taskaction", f"{RUN}-a0", namespace)

    def left() -> list[str]:
        return [o["metadata"]["name"] for o in kube.list("taskactions", namespace, f"flyte.org/run={RUN}") + kube.list("pods", namespace, f"run={RUN}")]

    wait_until(lambda: not left(), 90, lambda: f"after deleting the root, still there: {json.dumps(left())}", interval=0.5)


def test_a_child_waits_for_its_parent_and_says_for_whom(kube: Kube, operator, namespace: str) -> None:
    child = taskaction(container_template("busybox", ["true"]), run="orphan", action="child", parent="a0", namespace=namespace)
    kube.create(child)
    ta = kube.wait("taskaction", "orphan-child", namespace, lambda o: progressing_reason(o) == "Queued", "Queued")
    message = next(c["message"] for c in ta["status"]["conditions"] if c["type"] == "Progressing")
    assert message == f"waiting for parent TaskAction {namespace}/orphan-a0"
    assert kube.get("pod", "orphan-child-0", namespace) is None
    kube.create(taskaction(container_template("busybox", ["true"]), run="orphan", namespace=namespace))
    ta = kube.wait(
        "taskaction", "orphan-child", namespace, lambda o: bool(o["metadata"].get("ownerReferences")), "owned by its parent"
    )
    assert ta["metadata"]["ownerReferences"][0]["name"] == "orphan-a0"
