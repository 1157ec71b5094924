"""TaskTemplate -> Pod (docs/upstream-contract.md, "The pod", "Names", "Ownership"); its env is test_env, its resources
test_resources, the bundle's init container test_bundle_init."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flyteidl2.core import security_pb2
from google.protobuf import text_format

from taskaction_operator.api.decoding import SpecError
from taskaction_operator.api.models import TaskAction
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.settings import Settings
from taskaction_operator.storage import paths

from ..builders import INPUT_URI, NAMESPACE, ROOT_NAME, ROOT_OUTPUT_1, RUN_BASE, k8s_pod_template, spec, task_template, taskaction
from .pod_builders import env_of, make

UID = "11111111-2222-3333-4444-555555555555"


class TestIdentity:
    def test_name_namespace_and_container_name(self) -> None:
        pod = make()
        assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod"
        assert pod["metadata"]["name"] == "rabc123-a0-0"
        assert pod["metadata"]["namespace"] == NAMESPACE
        (container,) = pod["spec"]["containers"]
        assert container["name"] == "rabc123-a0-0"
        assert container["image"] == "python:3.11"

    @pytest.mark.parametrize(("attempt", "name"), [(1, "rabc123-a0-0"), (2, "rabc123-a0-1"), (3, "rabc123-a0-2")])
    def test_name_follows_the_attempt(self, attempt: int, name: str) -> None:
        pod = make(attempt=attempt)
        assert pod["metadata"]["name"] == name
        assert pod["spec"]["containers"][0]["name"] == name

    def test_owner_reference_is_the_controller_without_block_owner_deletion(self) -> None:
        pod = make()
        assert pod["metadata"]["ownerReferences"] == [
            {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": ROOT_NAME, "uid": UID, "controller": True}
        ]
        assert "blockOwnerDeletion" not in pod["metadata"]["ownerReferences"][0]

    def test_pod_spec_defaults(self) -> None:
        pod = make()
        assert pod["spec"]["restartPolicy"] == "Never"
        assert pod["spec"]["enableServiceLinks"] is False
        assert pod["spec"]["containers"][0]["terminationMessagePolicy"] == "FallbackToLogsOnError"
        assert "serviceAccountName" not in pod["spec"]
        assert "imagePullPolicy" not in pod["spec"]["containers"][0]

    def test_service_account_from_template_then_settings(self) -> None:
        assert make(task_template(service_account="task-sa"), settings=Settings(default_service_account="dflt"))["spec"][
            "serviceAccountName"
        ] == "task-sa"
        assert make(settings=Settings(default_service_account="dflt"))["spec"]["serviceAccountName"] == "dflt"

    def test_image_pull_policy_and_scheduler_from_settings(self) -> None:
        pod = make(settings=Settings(image_pull_policy="IfNotPresent", scheduler_name="volcano"))
        assert pod["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
        assert pod["spec"]["schedulerName"] == "volcano"


class TestLabels:
    def test_injected_labels(self) -> None:
        labels = make()["metadata"]["labels"]
        assert labels["flyte.org/managed"] == "true"
        assert labels["organization"] == "flyte"
        assert labels["project"] == "flytesnacks"
        assert labels["domain"] == "development"
        assert labels["run"] == "rabc123"
        assert labels["action"] == "a0"
        assert labels["task-name"] == "my_module.say_hello"
        assert labels["attempt"] == "1"
        assert "inject-flyte-secrets" not in labels

    @pytest.mark.parametrize(("attempt", "label"), [(0, "1"), (1, "1"), (2, "2"), (3, "3")])
    def test_attempt_label_is_one_based(self, attempt: int, label: str) -> None:
        assert make(attempt=attempt)["metadata"]["labels"]["attempt"] == label

    def test_taskaction_labels_pass_through_but_cannot_override_injected_ones(self) -> None:
        labels = make(
            labels={"team": "data", "flyte.org/run": "rabc123", "flyte.org/managed": "false", "run": "spoofed", "attempt": "9"}
        )["metadata"]["labels"]
        assert labels["team"] == "data"
        assert labels["flyte.org/run"] == "rabc123"
        assert labels["flyte.org/managed"] == "true"
        assert labels["run"] == "rabc123"
        assert labels["attempt"] == "1"

    def test_default_labels_cannot_override_the_managed_label(self) -> None:
        labels = make(settings=Settings(default_labels={"cluster": "default", "flyte.org/managed": "false"}))["metadata"]["labels"]
        assert labels["cluster"] == "default"
        assert labels["flyte.org/managed"] == "true"

    def test_values_are_sanitized(self) -> None:
        long_name = "pkg.module/" + "x" * 70
        labels = make(task_template(name=long_name))["metadata"]["labels"]
        assert labels["task-name"] == ("pkg.module-" + "x" * 70)[:63]
        assert len(labels["task-name"]) == 63

    def test_task_name_omitted_without_template_id(self) -> None:
        pod = make(task_template(name=None))
        assert "task-name" not in pod["metadata"]["labels"]
        assert not [n for n, _ in env_of(pod["spec"]["containers"][0]) if n.startswith("FLYTE_INTERNAL_TASK_")]

    def test_secrets_need_no_webhook(self) -> None:
        # The operator injects them itself (test_secrets): the webhook's object selector must not match.
        assert "inject-flyte-secrets" not in make(task_template(secrets=True))["metadata"]["labels"]

    def test_secrets_are_described_in_annotations(self) -> None:
        template = task_template(secrets=True)
        annotations = make(template)["metadata"]["annotations"]
        assert "flyte.secrets/s0" in annotations
        assert set(annotations["flyte.secrets/s0"]) <= set("abcdefghijklmnopqrstuvwxyz123456")
        # It decodes back to the secret, as the webhook reads it.
        encoded = annotations["flyte.secrets/s0"].upper().translate(str.maketrans("123456", "234567"))
        text = base64.b32decode(encoded + "=" * (-len(encoded) % 8)).decode()
        assert text_format.Parse(text, security_pb2.Secret()) == template.security_context.secrets[0]


class TestAnnotations:
    def test_defaults_and_primary_container(self) -> None:
        annotations = make()["metadata"]["annotations"]
        assert annotations == {
            "cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
            "primary_container_name": "rabc123-a0-0",
        }

    def test_taskaction_annotations_pass_through_except_last_applied(self) -> None:
        annotations = make(
            annotations={
                "team.example.com/owner": "alice",
                "kubectl.kubernetes.io/last-applied-configuration": '{"spec": {"taskTemplate": "..."}}',
            }
        )["metadata"]["annotations"]
        assert annotations["team.example.com/owner"] == "alice"
        assert "kubectl.kubernetes.io/last-applied-configuration" not in annotations
        assert annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"

    def test_taskaction_annotation_overrides_a_default(self) -> None:
        annotations = make(annotations={"cluster-autoscaler.kubernetes.io/safe-to-evict": "true"})["metadata"]["annotations"]
        assert annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "true"

    def test_raw_container_tasks_get_no_primary_annotation(self) -> None:
        pod = make(task_template(task_type="raw-container"), taskType="raw-container")
        assert "primary_container_name" not in pod["metadata"]["annotations"]




class TestArgs:
    def test_args_rendered_with_the_sharded_output_prefix(self) -> None:
        args = make()["spec"]["containers"][0]["args"]
        rendered = dict(zip(args[1::2], args[2::2], strict=False))
        assert rendered["--inputs"] == INPUT_URI
        assert rendered["--outputs-path"] == ROOT_OUTPUT_1
        assert rendered["--raw-data-path"] == ROOT_OUTPUT_1
        assert rendered["--checkpoint-path"] == ROOT_OUTPUT_1 + "/_flytecheckpoints"
        assert rendered["--prev-checkpoint"] == '""'
        assert rendered["--run-name"] == "{{.runName}}"
        assert rendered["--name"] == "{{.actionName}}"

    def test_second_attempt_writes_elsewhere_and_reads_the_previous_checkpoint(self) -> None:
        args = make(attempt=2)["spec"]["containers"][0]["args"]
        rendered = dict(zip(args[1::2], args[2::2], strict=False))
        second = paths.action_output_prefix(NAMESPACE, ROOT_NAME, RUN_BASE, "a0", 2)
        assert rendered["--outputs-path"] == second
        assert rendered["--prev-checkpoint"] == ROOT_OUTPUT_1 + "/_flytecheckpoints"

    def test_command_is_rendered_too(self) -> None:
        container = make(task_template(command=["sh", "-c", "echo {{.outputPrefix}}"], args=[]))["spec"]["containers"][0]
        assert container["command"] == ["sh", "-c", f"echo {ROOT_OUTPUT_1}"]
        assert "args" not in container

    def test_unparsable_run_output_base_is_a_spec_error(self) -> None:
        with pytest.raises(SpecError, match="runOutputBase"):
            make(runOutputBase="/not/a/url")




class TestInterruptible:
    SETTINGS = dict(
        interruptible_tolerations=[{"key": "spot", "operator": "Exists", "effect": "NoSchedule"}],
        interruptible_node_selector={"node-pool": "spot"},
        default_node_selector={"zone": "a"},
        default_tolerations=[{"key": "flyte", "operator": "Exists"}],
    )

    def test_interruptible_gets_tolerations_and_node_selector(self) -> None:
        pod = make(settings=Settings(**self.SETTINGS), interruptible=True)
        assert pod["spec"]["nodeSelector"] == {"zone": "a", "node-pool": "spot"}
        assert {"key": "spot", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]
        assert {"key": "flyte", "operator": "Exists"} in pod["spec"]["tolerations"]

    @pytest.mark.parametrize("interruptible", [False, None])
    def test_not_interruptible_gets_defaults_only(self, interruptible: bool | None) -> None:
        pod = make(settings=Settings(**self.SETTINGS), interruptible=interruptible)
        assert pod["spec"]["nodeSelector"] == {"zone": "a"}
        assert pod["spec"]["tolerations"] == [{"key": "flyte", "operator": "Exists"}]

    def test_the_template_flag_counts_when_the_spec_leaves_it_unset(self) -> None:
        template = task_template()
        template.metadata.interruptible = True
        pod = make(template, settings=Settings(**self.SETTINGS))
        assert pod["spec"]["nodeSelector"]["node-pool"] == "spot"
        assert {"key": "spot", "operator": "Exists", "effect": "NoSchedule"} in pod["spec"]["tolerations"]

    @pytest.mark.parametrize(("spec_value", "template_value"), [(False, True), (True, False)])
    def test_the_spec_wins_over_the_template(self, spec_value: bool, template_value: bool) -> None:
        template = task_template()
        template.metadata.interruptible = template_value
        pod = make(template, settings=Settings(**self.SETTINGS), interruptible=spec_value)
        assert ("node-pool" in pod["spec"]["nodeSelector"]) is spec_value

    def test_a_template_flag_set_false_is_not_interruptible(self) -> None:
        template = task_template()
        template.metadata.interruptible = False
        assert template.metadata.HasField("interruptible")
        assert "node-pool" not in make(template, settings=Settings(**self.SETTINGS))["spec"]["nodeSelector"]

    def test_no_selector_or_tolerations_without_settings(self) -> None:
        pod = make(interruptible=True)
        assert "nodeSelector" not in pod["spec"] and "tolerations" not in pod["spec"]


class TestContainerName:
    @staticmethod
    def make_named(name: str) -> dict[str, Any]:
        template = task_template()
        body = taskaction(name=name, spec_=spec(template))
        return build_pod(TaskAction.model_validate(body), template, 1, Settings())

    def test_a_pod_name_too_long_for_a_container_gives_four_stable_characters(self) -> None:
        # A TaskAction applied by hand may have a name of up to 253 characters; its pod's name is no label then.
        pod = self.make_named("r" + "x" * 70)
        (container,) = pod["spec"]["containers"]
        assert pod["metadata"]["name"] == "r" + "x" * 70 + "-0"
        assert len(container["name"]) == 4 and set(container["name"]) <= set("bcdfghjklmnpqrstvwxz2456789")
        assert self.make_named("r" + "x" * 70)["spec"]["containers"][0]["name"] == container["name"]
        assert self.make_named("r" + "y" * 70)["spec"]["containers"][0]["name"] != container["name"]
        assert pod["metadata"]["annotations"]["primary_container_name"] == container["name"]

    def test_a_name_of_63_stays(self) -> None:
        name = "r" + "x" * 60
        assert self.make_named(name)["spec"]["containers"][0]["name"] == name + "-0"


class TestK8sPodTarget:
    POD_SPEC = {
        "containers": [
            {"name": "primary", "image": "ghcr.io/org/img:1", "args": ["--out", "{{.outputPrefix}}"], "env": [{"name": "A", "value": "1"}]},
            {"name": "sidecar", "image": "envoy:1"},
        ],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
    }

    def make(self, pod_spec: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        return make(k8s_pod_template(pod_spec or self.POD_SPEC, **kwargs))

    def test_primary_container_and_metadata(self) -> None:
        pod = self.make(labels={"team": "ml", "flyte.org/managed": "no"}, annotations={"a.example.com/x": "y"})
        assert pod["metadata"]["name"] == "rabc123-a0-0"
        # Several containers: no primary annotation, so the pod is done when all have ended (as upstream).
        assert "primary_container_name" not in pod["metadata"]["annotations"]
        assert pod["metadata"]["annotations"]["a.example.com/x"] == "y"
        assert pod["metadata"]["labels"]["team"] == "ml"
        assert pod["metadata"]["labels"]["flyte.org/managed"] == "true"
        assert [c["name"] for c in pod["spec"]["containers"]] == ["primary", "sidecar"]
        assert pod["spec"]["volumes"] == [{"name": "scratch", "emptyDir": {}}]

    def test_every_container_is_decorated_but_only_the_primary_gets_resources(self) -> None:
        primary, sidecar = self.make()["spec"]["containers"]
        assert primary["args"] == ["--out", ROOT_OUTPUT_1]
        assert env_of(primary)[0] == ("A", "1")
        assert ("ACTION_NAME", "a0") in env_of(primary)
        assert ("ACTION_NAME", "a0") in env_of(sidecar)
        assert primary["resources"]["requests"] == {"cpu": "1000m", "memory": "1024Mi"}
        assert "resources" not in sidecar
        assert sidecar["terminationMessagePolicy"] == "FallbackToLogsOnError"

    def test_a_single_container_pod_names_its_primary(self) -> None:
        pod = self.make({"containers": [self.POD_SPEC["containers"][0]]})
        assert pod["metadata"]["annotations"]["primary_container_name"] == "primary"

    def test_init_containers_get_the_flyte_env_and_rendered_args(self) -> None:
        pod_spec = {**self.POD_SPEC, "initContainers": [{"name": "prep", "image": "busybox", "command": ["sh", "-c"], "args": ["echo {{.outputPrefix}}"]}]}
        (init,) = self.make(pod_spec)["spec"]["initContainers"]
        assert init["args"] == [f"echo {ROOT_OUTPUT_1}"]
        assert ("ACTION_NAME", "a0") in env_of(init) and ("RUN_NAME", "rabc123") in env_of(init)
        assert init["terminationMessagePolicy"] == "FallbackToLogsOnError"
        assert "resources" not in init

    def test_primary_name_is_required(self) -> None:
        with pytest.raises(SpecError, match="primary_container_name"):
            self.make(primary=None)

    def test_primary_must_exist(self) -> None:
        with pytest.raises(SpecError, match="no container named 'main'"):
            self.make(primary="main")

    def test_template_is_not_mutated(self) -> None:
        template = k8s_pod_template(self.POD_SPEC)
        before = template.SerializeToString()
        make(template)
        make(template)
        assert template.SerializeToString() == before

    def test_primary_limit_defaults_to_its_own_request(self) -> None:
        pod_spec = {"containers": [{"name": "primary", "image": "img", "resources": {"requests": {"cpu": "2", "memory": "3Gi"}}}]}
        resources_ = self.make(pod_spec)["spec"]["containers"][0]["resources"]
        assert resources_["requests"] == {"cpu": "2", "memory": "3Gi"}
        assert resources_["limits"] == {"cpu": "2", "memory": "3Gi"}

    def test_integers_of_the_pod_spec_stay_integers(self) -> None:
        pod_spec = {
            "containers": [{"name": "primary", "image": "img", "ports": [{"containerPort": 8080}]}],
            "terminationGracePeriodSeconds": 30,
        }
        spec_ = self.make(pod_spec)["spec"]
        port = spec_["containers"][0]["ports"][0]["containerPort"]
        assert port == 8080 and isinstance(port, int)
        assert isinstance(spec_["terminationGracePeriodSeconds"], int)
