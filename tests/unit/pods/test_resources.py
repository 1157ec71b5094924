"""The primary container's requests and limits (pods-and-bundles.md §2.6, MergeExistingResources)."""

from __future__ import annotations

import pytest
from flyteidl2.core import tasks_pb2

from taskaction_operator.api.decoding import SpecError
from taskaction_operator.pods.resources import own_resources, resources
from taskaction_operator.settings import Settings

from ..builders import task_template
from .pod_builders import make

CPU, MEMORY, GPU, STORAGE, EPHEMERAL = (
    tasks_pb2.Resources.CPU,
    tasks_pb2.Resources.MEMORY,
    tasks_pb2.Resources.GPU,
    tasks_pb2.Resources.STORAGE,
    tasks_pb2.Resources.EPHEMERAL_STORAGE,
)


class TestResources:
    def test_defaults_for_both_requests_and_limits(self) -> None:
        assert make()["spec"]["containers"][0]["resources"] == {
            "requests": {"cpu": "1000m", "memory": "1024Mi"},
            "limits": {"cpu": "1000m", "memory": "1024Mi"},
        }

    def test_defaults_come_from_settings(self) -> None:
        assert resources(None, Settings(default_cpu="500m", default_memory="2Gi")) == {
            "requests": {"cpu": "500m", "memory": "2Gi"},
            "limits": {"cpu": "500m", "memory": "2Gi"},
        }

    def test_limit_defaults_to_request(self) -> None:
        pod = make(task_template(requests={CPU: "2", MEMORY: "4Gi"}))
        assert pod["spec"]["containers"][0]["resources"] == {
            "requests": {"cpu": "2", "memory": "4Gi"},
            "limits": {"cpu": "2", "memory": "4Gi"},
        }

    def test_request_comes_from_limit(self) -> None:
        got = resources(task_template(limits={CPU: "3", MEMORY: "8Gi", EPHEMERAL: "10Gi"}).container.resources, Settings())
        assert got == {
            "requests": {"cpu": "3", "memory": "8Gi", "ephemeral-storage": "10Gi"},
            "limits": {"cpu": "3", "memory": "8Gi", "ephemeral-storage": "10Gi"},
        }

    def test_gpu_becomes_nvidia_gpu(self) -> None:
        got = resources(task_template(limits={GPU: "1"}).container.resources, Settings())
        assert got["limits"]["nvidia.com/gpu"] == "1"
        assert got["requests"]["nvidia.com/gpu"] == "1"
        assert "gpu" not in got["limits"]
        assert resources(task_template(limits={GPU: "2"}).container.resources, Settings(gpu_resource_name="amd.com/gpu"))[
            "limits"
        ]["amd.com/gpu"] == "2"

    def test_gpu_and_disk_requested_only_are_limited_to_the_request(self) -> None:
        """The SDK's Resources(gpu=1, disk="10Gi") puts them in requests only; Kubernetes refuses a GPU without a limit
        equal to its request (the pod ended InvalidResource), and upstream's AdjustOrDefaultResource sets it."""
        got = resources(task_template(requests={CPU: "2", GPU: "1", EPHEMERAL: "10Gi"}).container.resources, Settings())
        assert got["requests"] == {"cpu": "2", "memory": "1024Mi", "nvidia.com/gpu": "1", "ephemeral-storage": "10Gi"}
        assert got["limits"] == {"cpu": "2", "memory": "1024Mi", "nvidia.com/gpu": "1", "ephemeral-storage": "10Gi"}

    def test_zero_quantities_and_storage_are_dropped(self) -> None:
        got = resources(task_template(requests={CPU: "0", STORAGE: "5Gi"}).container.resources, Settings())
        assert got == {"requests": {"cpu": "1000m", "memory": "1024Mi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}}

    def test_zero_quantities_in_any_spelling_are_dropped(self) -> None:
        got = resources(task_template(requests={CPU: "0m", MEMORY: "0Gi"}, limits={CPU: "0.0"}).container.resources, Settings())
        assert got == {"requests": {"cpu": "1000m", "memory": "1024Mi"}, "limits": {"cpu": "1000m", "memory": "1024Mi"}}

    def test_request_is_clamped_to_the_limit(self) -> None:
        got = resources(task_template(requests={CPU: "4"}, limits={CPU: "2"}).container.resources, Settings())
        assert got["requests"]["cpu"] == "2"
        assert got["limits"]["cpu"] == "2"


class TestQuantitiesThatDoNotParse:
    def test_a_template_quantity_the_api_server_refuses_is_an_invalid_spec_naming_the_field(self) -> None:
        with pytest.raises(SpecError, match=r"taskTemplate\.container\.resources\.limits\[MEMORY\].*'0x10'"):
            resources(task_template(limits={MEMORY: "0x10"}).container.resources, Settings())

    def test_a_bare_suffix_is_zero_and_dropped_as_upstream(self) -> None:
        assert resources(task_template(requests={CPU: "T"}).container.resources, Settings())["requests"]["cpu"] == "1000m"

    def test_a_k8s_pod_quantity_the_api_server_refuses_names_the_container(self) -> None:
        with pytest.raises(SpecError, match=r"k8s_pod\.containers\[main\]\.resources\.requests\.cpu"):
            own_resources({"requests": {"cpu": "lots"}}, Settings(), "k8s_pod.containers[main].resources")

    def test_a_k8s_pod_quantity_may_be_a_number(self) -> None:
        assert own_resources({"limits": {"cpu": 2}}, Settings(), "x")["limits"]["cpu"] == "2"
