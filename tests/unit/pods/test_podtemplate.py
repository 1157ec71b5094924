"""Merging a task's pod onto a base PodTemplate (flyteplugins MergeWithBasePodTemplate;
docs/upstream-contract.md, "PodTemplates")."""

from __future__ import annotations

from taskaction_operator.pods.podtemplate import merge, merge_onto_template


def pod_template(spec: dict, metadata: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "base"}, "template": {"metadata": metadata or {}, "spec": spec}}


def task_pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "r-a0-0", "labels": {"team": "task"}, "annotations": {"a": "task"}},
        "spec": {
            "restartPolicy": "Never",
            "tolerations": [{"key": "task", "operator": "Exists"}],
            "containers": [
                {"name": "r-a0-0", "image": "task:1", "env": [{"name": "FROM", "value": "task"}]},
                {"name": "sidecar", "image": "side:1"},
            ],
        },
    }


def test_merge_overrides_non_empty_values_and_appends_lists() -> None:
    base = {"a": 1, "b": "x", "c": [1], "d": {"e": 1, "f": 2}, "g": "keep"}
    over = {"a": 2, "b": "", "c": [2], "d": {"f": 3}, "h": True}
    assert merge(base, over) == {"a": 2, "b": "x", "c": [1, 2], "d": {"e": 1, "f": 3}, "g": "keep", "h": True}


def test_template_spec_is_the_base_and_the_pod_wins() -> None:
    base = pod_template(
        {
            "restartPolicy": "Always",
            "schedulerName": "gang",
            "tolerations": [{"key": "template", "operator": "Exists"}],
            "containers": [{"name": "default", "image": "ignored"}],
        }
    )
    merged = merge_onto_template(base, task_pod(), "r-a0-0")
    assert merged["spec"]["restartPolicy"] == "Never"
    assert merged["spec"]["schedulerName"] == "gang"
    assert merged["spec"]["tolerations"] == [{"key": "template", "operator": "Exists"}, {"key": "task", "operator": "Exists"}]


def test_default_container_is_the_base_of_every_container_and_primary_of_the_primary() -> None:
    base = pod_template(
        {
            "containers": [
                {"name": "default", "volumeMounts": [{"name": "cache", "mountPath": "/cache"}], "env": [{"name": "FROM", "value": "default"}]},
                {"name": "primary", "securityContext": {"runAsUser": 1000}, "env": [{"name": "PRIMARY", "value": "1"}]},
            ],
            "volumes": [{"name": "cache", "emptyDir": {}}],
        }
    )
    merged = merge_onto_template(base, task_pod(), "r-a0-0")
    primary, sidecar = merged["spec"]["containers"]
    assert primary["name"] == "r-a0-0" and primary["image"] == "task:1"
    assert primary["securityContext"] == {"runAsUser": 1000}
    assert primary["env"] == [{"name": "FROM", "value": "default"}, {"name": "PRIMARY", "value": "1"}, {"name": "FROM", "value": "task"}]
    assert primary["volumeMounts"] == [{"name": "cache", "mountPath": "/cache"}]
    assert sidecar["volumeMounts"] == [{"name": "cache", "mountPath": "/cache"}]
    assert "securityContext" not in sidecar
    assert merged["spec"]["volumes"] == [{"name": "cache", "emptyDir": {}}]


def test_template_metadata_is_the_base_of_the_pods() -> None:
    base = pod_template({"containers": []}, {"labels": {"team": "template", "tier": "gpu"}, "annotations": {"a": "template", "b": "x"}})
    merged = merge_onto_template(base, task_pod(), "r-a0-0")
    assert merged["metadata"]["labels"] == {"team": "task", "tier": "gpu"}
    assert merged["metadata"]["annotations"] == {"a": "task", "b": "x"}
    assert merged["metadata"]["name"] == "r-a0-0"
