"""The operator's object store: newest resourceVersion wins, recreated objects replace, objects slimmed."""

from __future__ import annotations

import copy
from typing import Any

from taskaction_operator.controller.store import ObjectStore, key_of, slim

from ..builders import taskaction

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def version(rv: str, uid: str = "uid-1", **status: Any) -> dict[str, Any]:
    return taskaction(resource_version=rv, uid=uid, status=status or None)


def test_key_is_namespace_and_name() -> None:
    assert key_of(version("1")) == ("flyte", "rabc123-a0")
    assert key_of({"metadata": {"name": "cluster-scoped"}}) == ("", "cluster-scoped")


def test_newer_resource_version_wins() -> None:
    store = ObjectStore()
    store.put(version("10", attempts=1))
    stored = store.put(version("11", attempts=2))
    assert stored["status"]["attempts"] == 2
    assert store.get(("flyte", "rabc123-a0"))["metadata"]["resourceVersion"] == "11"


def test_older_resource_version_is_ignored() -> None:
    store = ObjectStore()
    store.put(version("11", attempts=2))
    returned = store.put(version("9", attempts=1))  # a stale watch event arriving after our write's response
    assert returned["status"]["attempts"] == 2
    assert store.get(("flyte", "rabc123-a0"))["metadata"]["resourceVersion"] == "11"
    assert len(store) == 1


def test_resource_versions_compare_as_numbers() -> None:
    store = ObjectStore()
    store.put(version("100"))
    store.put(version("99"))
    assert store.get(("flyte", "rabc123-a0"))["metadata"]["resourceVersion"] == "100"


def test_a_recreated_object_replaces_its_predecessor() -> None:
    store = ObjectStore()
    store.put(version("20", uid="old", attempts=3))
    stored = store.put(version("500", uid="new"))
    assert stored["metadata"]["uid"] == "new"
    assert store.get(("flyte", "rabc123-a0"))["metadata"]["uid"] == "new"


def test_a_late_event_of_the_predecessor_does_not_hide_its_successor() -> None:
    """A pod deleted for a system retry, its successor created under the same name, then the watch catching up
    with the predecessor's last update and its deletion: the successor stays."""
    store = ObjectStore()
    store.put(version("110", uid="successor"))  # the create's answer
    stale = store.put(version("100", uid="predecessor", phase="Failed"))  # its last MODIFIED, late
    assert stale["metadata"]["uid"] == "successor"
    store.remove(version("101", uid="predecessor"))  # its DELETED
    assert store.get(("flyte", "rabc123-a0"))["metadata"]["uid"] == "successor"


def test_managed_fields_and_last_applied_are_dropped() -> None:
    obj = taskaction(annotations={LAST_APPLIED: '{"huge": "copy"}', "team": "data"})
    obj["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Apply"}]
    original = copy.deepcopy(obj)
    stored = ObjectStore().put(obj)
    assert "managedFields" not in stored["metadata"]
    assert stored["metadata"]["annotations"] == {"team": "data"}
    assert stored["spec"] == original["spec"]
    assert obj == original, "the caller's object is not modified"


def test_slim_keeps_objects_without_extras_intact() -> None:
    obj = taskaction()
    assert slim(obj) == obj


def test_remove_only_the_same_object() -> None:
    store = ObjectStore()
    store.put(version("5", uid="new"))
    store.remove(version("4", uid="old"))  # the DELETED event of a previous incarnation
    assert store.get(("flyte", "rabc123-a0")) is not None
    store.remove(version("6", uid="new"))
    assert store.get(("flyte", "rabc123-a0")) is None
    store.remove(version("6", uid="new"))  # twice is harmless
    assert len(store) == 0


def test_discard_forgets_what_was_seen_when_the_server_was_asked() -> None:
    store = ObjectStore()
    seen = store.put(version("5"))
    store.discard(key_of(seen), seen)
    assert store.get(key_of(seen)) is None


def test_discard_keeps_what_a_watch_event_stored_while_the_server_was_asked() -> None:
    store = ObjectStore()
    store.discard(("flyte", "rabc123-a0"), None)  # nothing stored: nothing to forget
    seen = store.get(("flyte", "rabc123-a0"))
    created_meanwhile = store.put(version("7"))
    store.discard(key_of(created_meanwhile), seen)  # the 404 answered before the object was created
    assert store.get(key_of(created_meanwhile)) == created_meanwhile
    older = store.put(version("8"))
    newer = store.put(version("9"))
    store.discard(key_of(newer), older)
    assert store.get(key_of(newer)) == newer


def test_versions() -> None:
    store = ObjectStore()
    store.put(version("1"))
    store.put(taskaction(name="rabc123-train", resource_version="2"))
    assert sorted(store.versions()) == [(("flyte", "rabc123-a0"), 1), (("flyte", "rabc123-train"), 2)]


def test_a_finished_taskaction_keeps_only_what_is_read_once_finished() -> None:
    """Terminal labels written: everything recorded and reported. The decisions on the skeleton are the same as on
    the whole object, which is most of the retained objects' memory."""
    from taskaction_operator.reconcile.task import reconcile_task
    from taskaction_operator.settings import Settings

    from ..builders import NOW

    labels = {"flyte.org/termination-status": "terminated", "flyte.org/completed-time": "2026-08-08.11-00"}
    status = {
        "conditions": [
            {"type": "Succeeded", "status": "True", "reason": "Completed", "message": "", "lastTransitionTime": "2026-08-08T11:00:00Z"}
        ],
        "pluginPhase": "PhaseSuccess",
        "phaseHistory": [{"phase": "Queued", "occurredAt": "2026-08-08T10:59:00Z"}] * 20,
        "stateJson": "{}",
    }
    whole = taskaction(labels=labels, status=status, finalizers=["flyte.org/plugin-finalizer"])
    skeleton = slim(whole)
    assert "taskTemplate" not in skeleton["spec"] and "phaseHistory" not in skeleton["status"]
    assert skeleton["spec"]["runName"] == whole["spec"]["runName"]
    assert len(str(skeleton)) < len(str(whole)) / 2
    settings = Settings(read_outputs=False)
    assert reconcile_task(skeleton, None, None, NOW, settings) == reconcile_task(whole, None, None, NOW, settings)
    deleting = {**skeleton, "metadata": {**skeleton["metadata"], "deletionTimestamp": "2026-08-08T12:00:00Z"}}
    assert reconcile_task(deleting, None, None, NOW, settings).remove_finalizer


def test_an_unfinished_taskaction_is_kept_whole_but_managed_fields() -> None:
    body = taskaction(status={"phaseHistory": [{"phase": "Queued", "occurredAt": "2026-08-08T10:59:00Z"}]})
    body["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    slimmed = slim(body)
    assert "managedFields" not in slimmed["metadata"]
    assert slimmed["spec"] == body["spec"] and slimmed["status"] == body["status"]


def test_a_pod_keeps_its_status_and_only_the_names_of_its_containers() -> None:
    from ..builders import failed_pod

    pod_ = failed_pod("rabc123-a0-0", exit_code=3)
    pod_["kind"] = "Pod"
    pod_["spec"] = {"containers": [{"name": "rabc123-a0-0", "image": "x", "env": [{"name": "A", "value": "1"}] * 50}], "nodeName": "n1"}
    slimmed = slim(pod_)
    assert slimmed["spec"] == {"containers": [{"name": "rabc123-a0-0"}], "nodeName": "n1"}
    assert slimmed["status"] == pod_["status"]


def test_a_pod_keeps_what_the_decisions_read_and_they_decide_the_same() -> None:
    from taskaction_operator.reconcile.task import reconcile_task
    from taskaction_operator.settings import Settings

    from ..builders import NOW, failed_pod, pod, pod_condition, running_pod, started_status

    body = taskaction(status=started_status())
    settings = Settings(read_outputs=False)
    unschedulable = pod(conditions=[pod_condition("PodScheduled", "False", "Unschedulable", "0/3 nodes are available")])
    assert slim(unschedulable)["status"]["conditions"] == unschedulable["status"]["conditions"], "why it waits"
    for whole in (running_pod(), failed_pod(exit_code=3), unschedulable):
        whole["metadata"]["labels"].update({"run": "rabc123", "project": "p", "task-name": "t"})
        whole["metadata"]["annotations"]["team"] = "data"
        whole["status"].update(hostIP="10.0.0.1", hostIPs=[{"ip": "10.0.0.1"}], podIP="10.1.0.1", podIPs=[{"ip": "10.1.0.1"}], qosClass="Burstable")
        slimmed = slim(whole)
        assert slimmed["metadata"]["labels"] == {"run": "rabc123"}
        assert slimmed["metadata"]["annotations"] == {"primary_container_name": whole["metadata"]["name"]}
        assert not {"hostIP", "hostIPs", "podIP", "podIPs", "qosClass"} & set(slimmed["status"])
        assert ("conditions" in slimmed["status"]) == (whole["status"]["phase"] == "Pending")
        assert reconcile_task(body, slimmed, None, NOW, settings) == reconcile_task(body, whole, None, NOW, settings)


def test_a_settled_pod_keeps_its_phase_its_owner_and_what_the_stores_compare() -> None:
    from taskaction_operator.reconcile.task import reconcile_task
    from taskaction_operator.settings import Settings

    from ..builders import NOW, succeeded_pod

    pod_ = succeeded_pod()
    store = ObjectStore()
    store.put(pod_)
    store.settle(key_of(pod_))
    settled = store.get(key_of(pod_))
    assert settled == {
        "kind": "Pod",
        "metadata": {k: pod_["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "ownerReferences")},
        "status": {"phase": "Succeeded"},
    }
    # Its action deleted and created again (a new uid): the pod is its predecessor's, with the whole pod or the rest.
    recreated = taskaction(uid="a-new-uid")
    settings = Settings(read_outputs=False)
    assert reconcile_task(recreated, settled, None, NOW, settings) == reconcile_task(recreated, pod_, None, NOW, settings)
    store.settle(("flyte", "not-there"))  # nothing to settle: harmless
    assert len(store) == 1


def test_what_get_returns_is_the_callers_own_copy() -> None:
    """Kept as compact JSON, decoded at each get: a caller changing what it got changes nothing stored."""
    store = ObjectStore()
    store.put(version("3", attempts=1))
    got = store.get(key_of(version("3")))
    got["status"]["attempts"] = 9
    assert store.get(key_of(got))["status"]["attempts"] == 1
    assert store.get(key_of(got)) is not store.get(key_of(got))


def test_summaries_follow_what_is_stored() -> None:
    """What scans read without decoding every object: the summary of each object as stored (slimmed, settled)."""
    store = ObjectStore(lambda obj: (obj["metadata"]["resourceVersion"], "labels" in obj["metadata"]))
    store.put(version("1"))
    assert store.summaries() == [("1", True)]
    store.put(version("2"))
    store.put(version("1"))  # older: not stored, nor its summary
    assert store.summaries() == [("2", True)]
    store.remove(version("2"))
    assert store.summaries() == []
    assert ObjectStore().put(version("1")) and ObjectStore().summaries() == []


def test_a_task_template_is_kept_once_across_the_actions_that_run_it() -> None:
    import orjson

    # As from the API server: every object decoded on its own, each with its own copy of the template.
    decoded = [orjson.loads(orjson.dumps(taskaction(name=f"rabc123-a{i}", resource_version=str(i)))) for i in (1, 2)]
    assert decoded[0]["spec"]["taskTemplate"] is not decoded[1]["spec"]["taskTemplate"]
    store = ObjectStore()
    for obj in decoded:
        store.put(obj)
    first, second = (store.get(key_of(obj)) for obj in decoded)
    assert first["spec"]["taskTemplate"] is second["spec"]["taskTemplate"]
    # The same spec, its keys in the same order: what knows a spec by its JSON (reconcile/task.py) knows it again.
    assert orjson.dumps(first["spec"]) == orjson.dumps(decoded[0]["spec"])
