"""The pod policy through the real API server: every rule of the shared table as the built-in PodSecurity admission
plugin judges it (a server-side dry run in a namespace that enforces the level), the operator refusing what the level
refuses before any pod exists, and the pod it builds at restricted (bootstrap init container and all) admitted where
the API server itself enforces restricted."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskaction_operator.client.manifests import container_template, taskaction
from taskaction_operator.pods.bundle_init import BOOTSTRAP_CONTAINER
from taskaction_operator.pods.policy import pod_security_violations
from tests.support.kube import Kube, is_true
from tests.support.operator_process import running_operator
from tests.support.pod_security_cases import CASES, REASONS, Case
from tests.support.waiting import wait_until
from tests.unit.builders import k8s_pod_template

SUCCEED = {"sim.taskaction.dev/outcome": "succeed"}


def enforcing_namespace(kube: Kube, level: str) -> str:
    name = f"psa-{level[:4]}-{uuid.uuid4().hex[:6]}"
    kube.run("create", "namespace", name)
    kube.run("label", "namespace", name, f"pod-security.kubernetes.io/enforce={level}", "pod-security.kubernetes.io/enforce-version=latest")
    kube.wait("serviceaccount", "default", name, lambda sa: sa is not None, "created by kube-controller-manager")
    return name


@pytest.fixture(scope="module")
def enforcing(kube: Kube) -> Iterator[dict[str, str]]:
    """A namespace per level where the API server enforces it."""
    namespaces = {level: enforcing_namespace(kube, level) for level in ("baseline", "restricted")}
    yield namespaces
    for name in namespaces.values():
        kube.run("delete", "namespace", name, "--wait=false")


def admission_reasons(message: str) -> list[str]:
    """The forbidden reasons of `violates PodSecurity "restricted:latest": reason (detail), reason (detail)`."""
    listed = message.split(':latest": ', 1)[1].strip()
    reasons, depth, current = [], 0, ""
    for char in listed:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            reasons.append(current)
            current = ""
        else:
            current += char
    reasons.append(current)
    return sorted(reason.split(" (", 1)[0].strip() for reason in reasons if reason.strip())


@pytest.mark.parametrize("case", CASES, ids=lambda case: f"{case.level}: {case.name}")
def test_the_policy_refuses_what_the_admission_plugin_refuses(kube: Kube, enforcing: dict[str, str], case: Case) -> None:
    pod = case.pod()
    pod["metadata"]["name"] = f"case-{uuid.uuid4().hex[:8]}"
    proc = kube.run("create", "--dry-run=server", "-n", enforcing[case.level], "-f", "-", input=json.dumps(pod), check=False)
    ours = sorted({REASONS[v.rule] for v in pod_security_violations(pod, case.level)})
    if not case.rules:
        assert proc.returncode == 0, proc.stderr
        assert ours == []
        return
    assert proc.returncode != 0 and "violates PodSecurity" in proc.stderr, (proc.stdout, proc.stderr)
    # A reason the plugin pluralizes (profiles) is still the rule's.
    theirs = sorted({reason.rstrip("s") if reason.startswith("forbidden AppArmor") else reason for reason in admission_reasons(proc.stderr)})
    assert ours == theirs, proc.stderr


def wait_failed(kube: Kube, run: str, namespace: str) -> dict:
    return kube.wait("taskaction", f"{run}-a0", namespace, lambda o: is_true(o, "Failed") or is_true(o, "Succeeded"), "finished")


@pytest.mark.parametrize(
    ("run", "pod_spec", "rule_and_field"),
    [
        ("privileged", {"containers": [{"name": "primary", "image": "busybox", "securityContext": {"privileged": True}}]},
         "privileged: spec.containers[0].securityContext.privileged is true"),
        ("hostpath", {"containers": [{"name": "primary", "image": "busybox", "volumeMounts": [{"name": "root", "mountPath": "/host"}]}],
                      "volumes": [{"name": "root", "hostPath": {"path": "/"}}]},
         'hostPathVolumes: spec.volumes[0].hostPath is "/"'),
        ("hostnet", {"containers": [{"name": "primary", "image": "busybox"}], "hostNetwork": True},
         "hostNamespaces: spec.hostNetwork is true"),
        ("sa", {"containers": [{"name": "primary", "image": "busybox"}], "serviceAccountName": "cluster-admin"},
         'serviceAccount: spec.serviceAccountName is "cluster-admin"'),
    ],
)  # fmt: skip
def test_a_refused_pod_is_never_created_and_fails_the_action(
    kube: Kube, operator, namespace: str, run: str, pod_spec: dict, rule_and_field: str
) -> None:
    kube.create(taskaction(k8s_pod_template(pod_spec), run=run, namespace=namespace, labels=SUCCEED))
    ta = wait_failed(kube, run, namespace)
    error = ta["status"]["errorState"]
    assert (error["code"], error["kind"]) == ("PodPolicyViolation", "USER"), ta["status"]
    assert error["message"].startswith("the pod policy (level baseline) refuses the pod: ") and rule_and_field in error["message"], error
    assert kube.get("pod", f"{run}-a0-0", namespace) is None
    events: list[dict] = []

    def warned() -> bool:
        events[:] = kube.list("events", namespace, None)
        return any(e["reason"] == "PodPolicyViolation" and e["involvedObject"]["name"] == f"{run}-a0" for e in events)

    wait_until(warned, 10, lambda: f"no PodPolicyViolation Event for {run}-a0: {events}")  # posted in the background


def test_a_task_service_account_outside_the_allow_list_is_refused(kube: Kube, operator, namespace: str) -> None:
    template = container_template("busybox", ["true"])
    template.security_context.run_as.k8s_service_account = "deployer"
    kube.create(taskaction(template, run="run-as", namespace=namespace, labels=SUCCEED))
    error = wait_failed(kube, "run-as", namespace)["status"]["errorState"]
    assert error["code"] == "PodPolicyViolation" and 'serviceAccount: spec.serviceAccountName is "deployer"' in error["message"], error


def test_restart_policy_is_always_never_and_an_allowed_pod_runs(kube: Kube, operator, namespace: str) -> None:
    pod_spec = {"containers": [{"name": "primary", "image": "busybox", "args": ["true"]}], "restartPolicy": "Always"}
    kube.create(taskaction(k8s_pod_template(pod_spec), run="restarts", namespace=namespace, labels=SUCCEED))
    ta = wait_failed(kube, "restarts", namespace)
    assert is_true(ta, "Succeeded"), ta["status"]
    assert kube.get("pod", "restarts-a0-0", namespace)["spec"]["restartPolicy"] == "Never"


def test_at_restricted_the_operators_pod_is_admitted_where_the_api_server_enforces_restricted(
    kube: Kube, crd: None, enforcing: dict[str, str], storage_env: dict[str, str], tmp_path: Path
) -> None:
    """A generic image's pod: the bootstrap init container fetching the bundle, the task hardened by a PodTemplate."""
    namespace = enforcing["restricted"]
    kube.create({
        "apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "hardened", "namespace": namespace},
        "template": {"spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "default", "image": "unused", "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
        }},
    })  # fmt: skip
    env = {**storage_env, "TASKACTION_POD_SECURITY_LEVEL": "restricted", "TASKACTION_DEFAULT_POD_TEMPLATE_NAME": "hardened"}
    with running_operator(kube, namespace, tmp_path / "operator.log", env) as process:
        hardened = container_template("busybox", ["python", "-m", "app"])
        hardened.metadata.code_bundle_uri = "s3://bundles/app.tar.gz"
        kube.create(taskaction(hardened, run="hardened", namespace=namespace, labels=SUCCEED))
        ta = wait_failed(kube, "hardened", namespace)
        assert is_true(ta, "Succeeded"), (ta["status"], process.log())
        pod = kube.get("pod", "hardened-a0-0", namespace)
        assert [c["name"] for c in pod["spec"]["initContainers"]] == [BOOTSTRAP_CONTAINER]

        # A task that undoes the PodTemplate's hardening: the operator refuses its pod itself.
        escalating = {"containers": [{"name": "primary", "image": "busybox", "securityContext": {"allowPrivilegeEscalation": True}}]}
        kube.create(taskaction(k8s_pod_template(escalating), run="escalates", namespace=namespace, labels=SUCCEED))
        error = wait_failed(kube, "escalates", namespace)["status"]["errorState"]
        assert error["code"] == "PodPolicyViolation" and "(level restricted)" in error["message"], error
        assert "allowPrivilegeEscalation: spec.containers[0].securityContext.allowPrivilegeEscalation is true" in error["message"], error
        assert kube.get("pod", "escalates-a0-0", namespace) is None
