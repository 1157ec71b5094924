"""`pipeline(x)` (tests/storage/sdk_tasks/pipeline.py: step_one then step_two) in containers on the real node: the
root's SDK, in its pod, enqueues its children through the operator's actions service (over the host network), each
child runs in a pod of its own in the SDK image, and WatchForUpdates hands their outputs back: pipeline(5) = 20.
Deleting the root removes every action and pod (kube-controller-manager's garbage collector, the kubelet stopping
the containers)."""

from __future__ import annotations

from flyteidl2.task import common_pb2

from tests.node.conftest import Images
from tests.node.test_flyte_sdk import SDK_TASKS, finished, output_prefix, submit
from tests.support.kube import Kube, is_true
from tests.support.seaweedfs import SeaweedFS
from tests.support.waiting import wait_until_async

PIPELINE = SDK_TASKS / "pipeline.py"
RUN_TIMEOUT = 240  # three SDK pods one after the other, each importing the SDK


async def test_pipeline_enqueues_its_children_into_containers_and_deletes_as_a_tree(
    kube: Kube, operator, namespace: str, images: Images, seaweedfs: SeaweedFS
) -> None:
    root_name, body = await submit(kube, seaweedfs, namespace, images.sdk, PIPELINE, "pipeline", 5,
                                   image_cache={"pipeline": images.sdk})
    run = body["spec"]["runName"]
    root = finished(kube, root_name, namespace, RUN_TIMEOUT)
    actions = {a["spec"]["actionName"]: a for a in kube.list("taskaction", namespace, f"flyte.org/run={run}")}
    assert is_true(root, "Succeeded"), {name: a.get("status") for name, a in actions.items()}
    children = [a for name, a in actions.items() if name != "a0"]
    assert sorted(c["spec"]["shortName"] for c in children) == ["step_one", "step_two"]
    assert all(is_true(c, "Succeeded") and c["spec"]["parentActionName"] == "a0" for c in children)

    pods = kube.list("pod", namespace, f"flyte.org/run={run}")
    assert len(pods) == 3 and {p["spec"]["nodeName"] for p in pods} == {"taskaction-node"}
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {images.sdk}
    outputs = common_pb2.Outputs.FromString(seaweedfs.s3fs().cat_file(f"{output_prefix(body)}/outputs.pb"))
    assert [(lit.name, lit.value.scalar.primitive.integer) for lit in outputs.literals] == [("o0", 20)]

    kube.delete("taskaction", root_name, namespace)
    selector = f"flyte.org/run={run}"
    await wait_until_async(lambda: not kube.list("taskaction", namespace, selector) and not kube.list("pod", namespace, selector),
                           90, "the run's TaskActions and pods are not all gone after the root was deleted")
