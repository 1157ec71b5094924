"""The pod policy (pods/policy.py): every rule of the Pod Security Standards on the shared table of cases (which the
cluster tier holds against the real admission plugin), the ServiceAccount allow-list, the bundle cache's mounts, and
the names of the operator's own that a task's spec and a PodTemplate may not take."""

from __future__ import annotations

from typing import Any

import pytest

from taskaction_operator.api.decoding import SpecError
from taskaction_operator.api.models import TaskAction
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.pods.policy import (
    LEVELS,
    describe_violations,
    pod_policy_violations,
    pod_security_violations,
)
from taskaction_operator.settings import Settings
from tests.support.pod_security_cases import BASELINE_CASES, CASES, RESTRICTED_CASES, Case

from ..builders import k8s_pod_template, spec, task_template, taskaction

BUNDLE = "s3://flyte-data/uploads/app.tar.gz"
CACHE = "/var/lib/taskaction/bundles"


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.level}: {case.name}")
def test_each_rule_refuses_what_the_admission_plugin_refuses_and_names_the_field(case: Case) -> None:
    violations = pod_security_violations(case.pod(), case.level)
    assert sorted({v.rule for v in violations}) == sorted(case.rules), [v.describe() for v in violations]
    for field in case.fields:
        assert any(v.field.startswith(field) for v in violations), (field, [v.describe() for v in violations])


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.level}: {case.name}")
def test_privileged_refuses_nothing(case: Case) -> None:
    assert pod_security_violations(case.pod(), "privileged") == []


@pytest.mark.parametrize("case", [c for c in BASELINE_CASES if c.rules], ids=lambda case: case.name)
def test_what_baseline_refuses_restricted_refuses_too(case: Case) -> None:
    assert pod_security_violations(case.pod(), "restricted")


@pytest.mark.parametrize("case", [c for c in RESTRICTED_CASES if c.name not in ("hostPath", "privileged")], ids=lambda case: case.name)
def test_restricted_only_rules_leave_baseline_alone(case: Case) -> None:
    assert pod_security_violations(case.pod(), "baseline") == []


def test_a_user_namespace_relaxes_root_rules_as_the_admission_plugin_does() -> None:
    pod = CASES[0].pod()
    pod["spec"] = {"hostUsers": False, "securityContext": {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}},
                   "containers": [{"name": "main", "image": "x", "securityContext": {
                       "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "procMount": "Unmasked"}}]}  # fmt: skip
    assert [v.rule for v in pod_security_violations(pod, "baseline")] == []
    # procMount is relaxed for baseline only; runAsNonRoot and runAsUser are for restricted too.
    assert [v.rule for v in pod_security_violations(pod, "restricted")] == ["procMount_restricted"]


def test_windows_pods_skip_the_linux_only_restricted_rules() -> None:
    pod = {"spec": {"os": {"name": "windows"}, "securityContext": {"runAsNonRoot": True}, "containers": [{"name": "main", "image": "x"}]}}
    assert pod_security_violations(pod, "restricted") == []


def test_ephemeral_and_init_containers_are_judged_too() -> None:
    pod = {"spec": {"containers": [{"name": "main"}], "initContainers": [{"name": "init", "securityContext": {"privileged": True}}],
                    "ephemeralContainers": [{"name": "debug", "ports": [{"containerPort": 1, "hostPort": 1}]}]}}  # fmt: skip
    assert [(v.rule, v.field) for v in pod_security_violations(pod, "baseline")] == [
        ("privileged", "spec.initContainers[0].securityContext.privileged"),
        ("hostPorts", "spec.ephemeralContainers[0].ports[0].hostPort"),
    ]


def test_the_message_names_the_level_each_rule_and_field() -> None:
    pod = {"spec": {"hostNetwork": True, "containers": [{"name": "main", "securityContext": {"privileged": True}}]}}
    message = describe_violations(pod_security_violations(pod, "baseline"), "baseline")
    assert message == (
        "the pod policy (level baseline) refuses the pod: hostNamespaces: spec.hostNetwork is true, allowed: false or unset; "
        "privileged: spec.containers[0].securityContext.privileged is true, allowed: false or unset"
    )


def test_levels() -> None:
    assert LEVELS == ("privileged", "baseline", "restricted")
    assert Settings().pod_security_level == "baseline"
    with pytest.raises(ValueError):
        Settings(pod_security_level="none")


# ServiceAccounts


def sa_violations(settings: Settings, **spec_: Any) -> list[str]:
    return [v.describe() for v in pod_policy_violations({"spec": {"containers": [{"name": "main"}], **spec_}}, settings)]


class TestServiceAccounts:
    def test_by_default_only_the_namespace_default_and_the_operators_default(self) -> None:
        settings = Settings(default_service_account="tasks")
        assert sa_violations(settings) == []
        assert sa_violations(settings, serviceAccountName="default") == []
        assert sa_violations(settings, serviceAccountName="tasks") == []
        assert sa_violations(settings, serviceAccountName="cluster-admin") == [
            'serviceAccount: spec.serviceAccountName is "cluster-admin", allowed: default, tasks (TASKACTION_POD_SERVICE_ACCOUNTS)'
        ]

    def test_the_deprecated_alias_is_checked_too(self) -> None:
        assert [v.split(" is ")[0] for v in sa_violations(Settings(), serviceAccount="admin")] == ["serviceAccount: spec.serviceAccount"]

    def test_listed_ones_are_allowed_and_a_star_allows_any(self) -> None:
        assert sa_violations(Settings(pod_service_accounts=["etl"]), serviceAccountName="etl") == []
        assert sa_violations(Settings(pod_service_accounts=["etl"]), serviceAccountName="other")
        assert sa_violations(Settings(pod_service_accounts=["*"]), serviceAccountName="anything") == []

    def test_at_every_level(self) -> None:
        assert sa_violations(Settings(pod_security_level="privileged"), serviceAccountName="admin")

    def test_the_templates_run_as_goes_through_the_same_check(self) -> None:
        template = task_template(service_account="admin", args=["python"])
        pod = build_pod(TaskAction.model_validate(taskaction(spec_=spec(template))), template, 1, Settings())
        assert [v.rule for v in pod_policy_violations(pod, Settings())] == ["serviceAccount"]


# The bundle cache


def bundle_pod(settings: Settings, pod_template: dict[str, Any] | None = None, pod_spec: dict[str, Any] | None = None) -> dict[str, Any]:
    template = k8s_pod_template(pod_spec) if pod_spec is not None else task_template(args=["python", "-m", "app"])
    template.metadata.code_bundle_uri = BUNDLE
    return build_pod(TaskAction.model_validate(taskaction(spec_=spec(template))), template, 1, settings, pod_template)


def named_pod_template(spec_: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "base", "namespace": "flyte"}, "template": {"spec": spec_}}


RESTRICTED_BASE = named_pod_template({
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [{"name": "default", "image": "x", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
})  # fmt: skip


class TestBundleCache:
    def test_the_operators_cache_is_no_hostpath_of_the_task_at_any_level(self) -> None:
        for level in LEVELS:
            settings = Settings(bootstrap_cache_host_path=CACHE, pod_security_level=level)
            pod = bundle_pod(settings, RESTRICTED_BASE)
            assert any("hostPath" in v for v in pod["spec"]["volumes"])
            assert pod_policy_violations(pod, settings) == [], level

    def test_the_bootstrap_meets_restricted_on_its_own(self) -> None:
        settings = Settings(bootstrap_cache_host_path=CACHE, pod_security_level="restricted")
        violations = pod_policy_violations(bundle_pod(settings), settings)
        assert violations and all(v.field.startswith("spec.containers[0]") for v in violations), [v.describe() for v in violations]

    def test_the_task_container_never_sees_the_cache(self) -> None:
        pod = bundle_pod(Settings(bootstrap_cache_host_path=CACHE))
        (task,) = pod["spec"]["containers"]
        assert [m["name"] for m in task["volumeMounts"]] == ["taskaction-code"]

    def test_a_pod_template_that_mounts_the_cache_into_the_task_is_refused(self) -> None:
        settings = Settings(bootstrap_cache_host_path=CACHE)
        base = named_pod_template({"containers": [{"name": "default", "image": "x", "volumeMounts": [{"name": "taskaction-bundle-cache", "mountPath": "/c"}]}]})
        assert [(v.rule, v.field) for v in pod_policy_violations(bundle_pod(settings, base), settings)] == [
            ("bundleCache", "spec.containers[0].volumeMounts[0]")
        ]

    def test_a_pod_template_that_gives_the_bootstrap_another_command_is_refused(self) -> None:
        settings = Settings(bootstrap_cache_host_path=CACHE)
        base = named_pod_template({"containers": [], "initContainers": [{"name": "default-init", "image": "x", "command": ["sh", "-c", "poison"]}]})
        assert [(v.rule, v.field) for v in pod_policy_violations(bundle_pod(settings, base), settings)] == [
            ("bundleCache", "spec.initContainers[0].command")
        ]

    def test_a_pod_template_that_gives_the_bootstrap_a_command_to_run_is_refused(self) -> None:
        settings = Settings(bootstrap_cache_host_path=CACHE)
        base = named_pod_template({"containers": [], "initContainers": [{"name": "default-init", "image": "x", "args": ["--bundle", "s3://b/x", "--", "sh"]}]})
        assert [(v.rule, v.field) for v in pod_policy_violations(bundle_pod(settings, base), settings)] == [
            ("bundleCache", "spec.initContainers[0].args")
        ]

    def test_the_tasks_own_hostpath_on_the_cache_directory_is_a_hostpath(self) -> None:
        settings = Settings(bootstrap_cache_host_path=CACHE)
        pod_spec = {"containers": [{"name": "primary", "image": "x", "volumeMounts": [{"name": "mine", "mountPath": "/c"}]}],
                    "volumes": [{"name": "mine", "hostPath": {"path": CACHE}}]}  # fmt: skip
        assert [(v.rule, v.field) for v in pod_policy_violations(bundle_pod(settings, pod_spec=pod_spec), settings)] == [
            ("hostPathVolumes", "spec.volumes[0].hostPath")
        ]

    @pytest.mark.parametrize("kind, item", [
        ("volumes", {"name": "taskaction-bundle-cache", "hostPath": {"path": CACHE}}),
        ("initContainers", {"name": "taskaction-bootstrap", "image": "x"}),
        ("volumes", {"name": "taskaction-code", "emptyDir": {}}),
    ])  # fmt: skip
    def test_the_operators_names_are_reserved(self, kind: str, item: dict[str, Any]) -> None:
        pod_spec = {"containers": [{"name": "primary", "image": "x"}], kind: [item]}
        with pytest.raises(SpecError, match=rf"taskTemplate.k8sPod.podSpec.{kind}\[0\].name: '{item['name']}' is reserved"):
            bundle_pod(Settings(), pod_spec=pod_spec)
        with pytest.raises(SpecError, match=rf"PodTemplate 'flyte/base': template.spec.{kind}\[0\].name"):
            bundle_pod(Settings(), named_pod_template({"containers": [], kind: [item]}))


# restartPolicy


def test_restart_policy_is_never_whatever_the_spec_or_the_pod_template_say() -> None:
    pod_spec = {"containers": [{"name": "primary", "image": "x"}], "restartPolicy": "Always"}
    assert bundle_pod(Settings(), pod_spec=pod_spec)["spec"]["restartPolicy"] == "Never"
    assert bundle_pod(Settings(), named_pod_template({"containers": [], "restartPolicy": "OnFailure"}))["spec"]["restartPolicy"] == "Never"
