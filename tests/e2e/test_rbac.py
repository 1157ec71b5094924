"""RBAC proved, not assumed: the real operator runs with a token of the chart's ServiceAccount through a full
life (success, a user retry, an abort, garbage collection) and its log holds no 403 / Forbidden; `kubectl auth
can-i` shows what the account can do and, as much, what it cannot."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskaction_operator.client.manifests import container_template, taskaction
from tests.e2e.helm import CHART, CRD_NOT_INSTALLED, Helm
from tests.e2e.watch import WatchRecorder
from tests.support.kube import Kube, condition, install_crd, is_true, progressing_reason
from tests.support.operator_process import OperatorProcess
from tests.support.own_cluster import own_cluster

OUTCOME = "sim.taskaction.dev/outcome"


def sa_kubeconfig(kube: Kube, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount (a TokenRequest token), not as the admin."""
    token = kube.run("create", "token", account, "-n", namespace, "--duration=1h").stdout.strip()
    admin = json.loads(kube.run("config", "view", "--minify", "--raw", "-o", "json").stdout)
    cluster = admin["clusters"][0]["cluster"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "e2e", "cluster": cluster}],
                "users": [{"name": account, "user": {"token": token}}],
                "contexts": [{"name": account, "context": {"cluster": "e2e", "user": account, "namespace": namespace}}],
                "current-context": account,
            }
        )
    )
    return path


def local_operator_env(helm: Helm, release: str, op_ns: str, pod_name: str) -> dict[str, str]:
    """The operator's environment as the chart rendered it for the release, but for a local process: loopback, its
    ports off, the pod's downward API values by hand, no outputs read (kwok's pods write none)."""
    manifest = [d for d in yaml.safe_load_all(helm.run("get", "manifest", release, "--namespace", op_ns).stdout) if d]
    (deployment,) = [d for d in manifest if d["kind"] == "Deployment"]
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"] if "value" in e}
    return {
        **env,
        "TASKACTION_METRICS_PORT": "0",
        "TASKACTION_HEALTH_PORT": "0",
        "TASKACTION_BIND_ADDRESS": "127.0.0.1",
        "POD_NAME": pod_name,
        "POD_NAMESPACE": op_ns,
        "TASKACTION_READ_OUTPUTS": "false",
    }


def refusals(log: str) -> list[str]:
    """The log lines of refusals: the API server's 403 status, which the client logs as "403 Forbidden: ... is
    forbidden", and kopf's "Not enough permissions". Never bare digits: a timestamp's milliseconds (",403") or a
    port hold them too."""
    return [line for line in log.splitlines() if "forbidden" in line.lower() or "Not enough permissions" in line]


def can_i(kube: Kube, subject: str, verb: str, resource: str, namespace: str | None = None, subresource: str | None = None) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={subject}"]
    args += ["-n", namespace] if namespace else []
    args += [f"--subresource={subresource}"] if subresource else []
    proc = kube.run(*args, check=False)
    assert proc.stdout.strip() in ("yes", "no"), proc.stdout + proc.stderr
    return proc.stdout.strip() == "yes"


BASE_TEMPLATE = "e2e-base"


@pytest.fixture
def installed(
    helm: Helm, kube: Kube, crd: None, new_namespace: Callable[..., str], releases: list[tuple[str, str]]
) -> dict[str, Any]:
    """The chart installed watching one namespace (Role mode, as the locally run operator gets TASKACTION_NAMESPACES),
    with leader election and a default PodTemplate, which lives in the release namespace (the fallback)."""
    op_ns = new_namespace("e2e-op")
    work_ns = new_namespace("e2e-work")
    release = f"rb-{op_ns.rsplit('-', 1)[1]}"
    releases.append((release, op_ns))
    helm.run(
        "install", release, str(CHART), "--namespace", op_ns, "--wait", "--timeout", "120s", *CRD_NOT_INSTALLED,
        "--set", f"watchNamespaces={{{work_ns}}}",
        "--set", "leaderElection.enabled=true",
        "--set", f"podTemplates.defaultName={BASE_TEMPLATE}",
        timeout=180,
    )  # fmt: skip
    account = f"{release}-taskaction-operator"
    return {
        "op_ns": op_ns,
        "work_ns": work_ns,
        "release": release,
        "account": account,
        "subject": f"system:serviceaccount:{op_ns}:{account}",
        "env": local_operator_env(helm, release, op_ns, "e2e-local-operator"),
    }


def _ta(namespace: str, run: str, outcome: str, retries: int = 0) -> dict[str, Any]:
    template = container_template("busybox", ["true"], retries=retries)
    return taskaction(template, run=run, namespace=namespace, labels={OUTCOME: outcome})


def _reached(pred: Callable[[dict[str, Any]], bool]) -> Callable[[list[tuple[str, dict[str, Any]]]], bool]:
    return lambda history: any(pred(obj) for _, obj in history)


def _deleted(history: list[tuple[str, dict[str, Any]]]) -> bool:
    return any(t == "DELETED" for t, _ in history)


def test_operator_runs_a_full_life_with_the_charts_service_account(
    installed: dict[str, Any], kube: Kube, tmp_path: Path
) -> None:
    work_ns = installed["work_ns"]
    config = sa_kubeconfig(kube, installed["op_ns"], installed["account"], tmp_path / "sa.kubeconfig")
    whoami = Kube(str(config), kube.kubectl_bin).run("auth", "whoami", "-o", "json").stdout
    assert json.loads(whoami)["status"]["userInfo"]["username"] == installed["subject"]

    op_ns = installed["op_ns"]
    kube.create({
        "apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": BASE_TEMPLATE, "namespace": op_ns},
        "template": {"metadata": {"labels": {"e2e.taskaction.dev/base": "yes"}},
                     "spec": {"containers": [{"name": "default", "image": "unused"}]}},
    })  # fmt: skip

    # The chart's environment, run locally, with the brief's fast garbage collection.
    env = {**installed["env"], "TASKACTION_GC_INTERVAL_SECONDS": "2", "TASKACTION_GC_TTL_SECONDS": "0"}
    assert json.loads(env["TASKACTION_NAMESPACES"]) == [work_ns] and env["TASKACTION_LEADER_ELECTION"] == "true"
    assert env["TASKACTION_POD_TEMPLATE_NAMESPACE"] == op_ns
    watch = WatchRecorder(kube, "taskactions", work_ns)
    operator = OperatorProcess(str(config), [work_ns], tmp_path / "operator.log", env)
    operator.start()
    try:
        kube.create(_ta(work_ns, "ok", "succeed"))
        kube.create(_ta(work_ns, "retry", "fail", retries=1))
        kube.create(_ta(work_ns, "long", "running"))
        # A child whose parent is in no cache: the operator GETs the parent (404) and waits for it.
        kube.create(taskaction(container_template("busybox", ["true"]), run="orphan", action="c1", parent="a0", namespace=work_ns))

        # Abort: the running action is deleted; the operator deletes its pod and releases its finalizer.
        kube.wait("taskaction", "long-a0", work_ns, lambda o: progressing_reason(o) == "Executing", "Executing", timeout=60)
        pod = kube.wait("pod", "long-a0-0", work_ns, lambda o: o is not None and o["status"].get("phase") == "Running", "Running")
        # Merged onto the default PodTemplate: not in the task's namespace, found in the fallback one.
        assert pod["metadata"]["labels"].get("e2e.taskaction.dev/base") == "yes", pod["metadata"]["labels"]
        lease = kube.get("lease", "taskaction-operator", op_ns)
        assert lease is not None and lease["spec"]["holderIdentity"] == "e2e-local-operator"
        # Its pod deleted behind the operator's back: a system failure, confirmed by a live GET, and a new pod.
        kube.delete("pod", "long-a0-0", work_ns)
        kube.wait("pod", "long-a0-0", work_ns,
                  lambda o: o is not None and o["metadata"]["uid"] != pod["metadata"]["uid"] and o["status"].get("phase") == "Running", "re-created")  # fmt: skip
        kube.delete("taskaction", "long-a0", work_ns)
        kube.wait("taskaction", "long-a0", work_ns, lambda o: o is None, "deleted (aborted)", timeout=60)
        kube.wait("pod", "long-a0-0", work_ns, lambda o: o is None, "deleted with the abort", timeout=60)

        kube.wait("taskaction", "orphan-c1", work_ns,
                  lambda o: "waiting for parent TaskAction" in ((condition(o, "Progressing") or {}).get("message") or ""), "waiting")  # fmt: skip
        # Terminal states, then the garbage collector (TTL 0, every 2 s) deletes them: nobody else does here.
        watch.wait("ok-a0", _reached(lambda o: is_true(o, "Succeeded")), "Succeeded")
        watch.wait("retry-a0", _reached(lambda o: is_true(o, "Failed")), "Failed", timeout=90)
        watch.wait("ok-a0", _deleted, "garbage-collected")
        watch.wait("retry-a0", _deleted, "garbage-collected")
        for name in ("ok-a0-0", "retry-a0-1"):
            kube.wait("pod", name, work_ns, lambda o: o is None, "gone with its action", timeout=60)
    finally:
        kube.run("delete", "taskactions", "--all", "-n", work_ns, "--wait=true", "--timeout=60s", check=False)
        operator.stop()
        watch.stop()

    failed = next(o for _, o in watch.history("retry-a0") if is_true(o, "Failed"))
    assert failed["status"]["attempts"] == 2 and condition(failed, "Failed")["reason"] == "PermanentFailure"
    retried = [h for h in failed["status"]["phaseHistory"] if h["phase"] == "RetryableFailure"]
    assert retried and retried[0]["message"].startswith("attempt 1: [Error]"), failed["status"]["phaseHistory"]
    done = next(o for _, o in watch.history("ok-a0") if is_true(o, "Succeeded"))
    assert done["metadata"]["labels"].get("flyte.org/termination-status") == "terminated" or done["status"]["pluginPhase"] == "PhaseSuccess"
    # The operator's Events were posted with this account (events create): with the default kubeEvents (failures),
    # the retried action's Warnings.
    events = json.loads(kube.run("get", "events", "-n", work_ns, "-o", "json").stdout)["items"]
    assert {e["involvedObject"]["name"] for e in events if e.get("reportingComponent") == "taskaction-operator"} >= {"retry-a0"}

    # Released on shutdown (update), for a standby to take over at once.
    assert not (kube.get("lease", "taskaction-operator", op_ns) or {}).get("spec", {}).get("holderIdentity")

    log = (tmp_path / "operator.log").read_text(errors="replace")
    assert "leading as e2e-local-operator" in log
    denied = refusals(log)
    assert not denied, "the chart's RBAC refused the operator something:\n" + "\n".join(denied[:20])


def test_auth_can_i_namespaced(installed: dict[str, Any], kube: Kube, new_namespace: Callable[..., str]) -> None:
    sa, op_ns, work_ns = installed["subject"], installed["op_ns"], installed["work_ns"]
    other = new_namespace("e2e-other")
    allowed = [
        ("create", "pods", work_ns, None),
        ("delete", "pods", work_ns, None),
        ("watch", "pods", work_ns, None),
        ("patch", "taskactions.flyte.org", work_ns, "status"),
        ("patch", "taskactions.flyte.org", work_ns, None),
        ("delete", "taskactions.flyte.org", work_ns, None),
        ("update", "taskactions.flyte.org", work_ns, "finalizers"),
        ("create", "events", work_ns, None),
        ("get", "podtemplates", work_ns, None),
        ("get", "podtemplates", op_ns, None),  # the fallback namespace
        ("create", "leases.coordination.k8s.io", op_ns, None),
        ("update", "leases.coordination.k8s.io", op_ns, None),
    ]
    denied = [
        ("get", "secrets", work_ns, None),
        ("get", "secrets", op_ns, None),
        ("list", "secrets", None, None),
        ("create", "deployments.apps", work_ns, None),
        ("delete", "nodes", None, None),
        ("create", "customresourcedefinitions.apiextensions.k8s.io", None, None),
        ("delete", "customresourcedefinitions.apiextensions.k8s.io", None, None),
        ("get", "customresourcedefinitions.apiextensions.k8s.io", None, None),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io", None, None),  # Role mode: nothing cluster-wide
        ("list", "namespaces", None, None),
        ("create", "taskactions.flyte.org", work_ns, None),
        ("create", "tokenreviews.authentication.k8s.io", None, None),  # the actions service's, not served here
        ("update", "taskactions.flyte.org", work_ns, None),
        ("update", "pods", work_ns, None),
        ("create", "pods", other, None),  # Role mode: nothing outside the watched namespaces
        ("list", "taskactions.flyte.org", other, None),
        ("list", "taskactions.flyte.org", None, None),
        ("create", "pods", op_ns, None),
        ("create", "leases.coordination.k8s.io", work_ns, None),
        ("create", "events.events.k8s.io", work_ns, None),
        ("list", "podtemplates", work_ns, None),
        ("get", "podtemplates", other, None),
        ("get", "taskactions.flyte.org", work_ns, "status"),
        ("delete", "leases.coordination.k8s.io", op_ns, None),
        ("patch", "events", work_ns, None),
        ("create", "serviceaccounts/token", op_ns, None),
        ("delete", "namespaces", None, None),
        ("list", "workflows.argoproj.io", work_ns, None),
    ]
    wrong = [f"can{'not' if want else ''} {v} {r}{'/' + s if s else ''} in {n or 'the cluster'}"
             for want, rules in ((True, allowed), (False, denied)) for v, r, n, s in rules if can_i(kube, sa, v, r, n, s) != want]
    assert not wrong, wrong


def test_auth_can_i_cluster_wide(
    helm: Helm, kube: Kube, crd: None, new_namespace: Callable[..., str], releases: list[tuple[str, str]]
) -> None:
    ns = new_namespace("e2e-cw")
    release = f"cw-{ns.rsplit('-', 1)[1]}"
    releases.append((release, ns))
    helm.run("install", release, str(CHART), "--namespace", ns, *CRD_NOT_INSTALLED, timeout=120)
    sa = f"system:serviceaccount:{ns}:{release}-taskaction-operator"
    anywhere = new_namespace("e2e-any")
    for verb, resource, namespace, sub in [
        ("list", "taskactions.flyte.org", None, None),
        ("watch", "pods", None, None),
        ("create", "pods", anywhere, None),
        ("patch", "taskactions.flyte.org", anywhere, "status"),
        ("delete", "taskactions.flyte.org", anywhere, None),
        ("create", "events", anywhere, None),
        ("get", "podtemplates", anywhere, None),
        ("update", "leases.coordination.k8s.io", ns, None),
    ]:
        assert can_i(kube, sa, verb, resource, namespace, sub), f"cannot {verb} {resource} {sub or ''} in {namespace or 'the cluster'}"
    for verb, resource, namespace, sub in [
        ("get", "secrets", anywhere, None),
        ("create", "deployments.apps", anywhere, None),
        ("delete", "nodes", None, None),
        ("create", "customresourcedefinitions.apiextensions.k8s.io", None, None),
        ("watch", "customresourcedefinitions.apiextensions.k8s.io", None, None),  # kopf scans nothing
        ("list", "namespaces", None, None),  # the operator never lists namespaces
        ("create", "leases.coordination.k8s.io", anywhere, None),
        ("create", "taskactions.flyte.org", anywhere, None),
        ("create", "namespaces", None, None),  # only the actions service creates them (test_actions_service.py)
        # Only the actions service asks who calls it and what they may do (test_actions_service.py).
        ("create", "tokenreviews.authentication.k8s.io", None, None),
        ("create", "subjectaccessreviews.authorization.k8s.io", None, None),
        ("list", "podtemplates", None, None),
        ("get", "secrets", ns, None),
    ]:
        assert not can_i(kube, sa, verb, resource, namespace, sub), f"can {verb} {resource} {sub or ''} in {namespace or 'the cluster'}"


def test_cluster_wide_operator_runs_with_the_charts_service_account(helm_bin: str, tmp_path: Path) -> None:
    """The chart's default mode (all namespaces): the operator, with the token of the chart's ServiceAccount and the
    rendered env (no TASKACTION_NAMESPACES), runs an action to Succeeded and aborts another in a namespace made
    after it started; nothing is refused (and nothing asks for CRDs: kopf scans nothing). On a cluster of its own:
    on the shared one it would also run the actions of every other run there."""
    with own_cluster("rbac-cw") as kube:
        install_crd(kube)
        helm = Helm(helm_bin, kube.kubeconfig, tmp_path / "helm-home")
        op_ns, work_ns, release = "e2e-cwop", "e2e-cwwork", "cwr"
        kube.run("create", "namespace", op_ns)
        helm.run("install", release, str(CHART), "--namespace", op_ns, *CRD_NOT_INSTALLED, timeout=120)
        env = local_operator_env(helm, release, op_ns, "e2e-cw-operator")
        assert env["TASKACTION_NAMESPACES"] == "[]"
        config = sa_kubeconfig(kube, op_ns, f"{release}-taskaction-operator", tmp_path / "sa.kubeconfig")
        operator = OperatorProcess(str(config), [], tmp_path / "operator.log", env)
        operator.start()
        try:
            kube.run("create", "namespace", work_ns)
            kube.create(_ta(work_ns, "ok", "succeed"))
            kube.create(_ta(work_ns, "long", "running"))
            kube.wait("taskaction", "ok-a0", work_ns, lambda o: is_true(o, "Succeeded"), "Succeeded", timeout=90)
            kube.wait("pod", "long-a0-0", work_ns, lambda o: o is not None and o["status"].get("phase") == "Running", "Running", timeout=60)
            kube.delete("taskaction", "long-a0", work_ns)
            kube.wait("taskaction", "long-a0", work_ns, lambda o: o is None, "deleted (aborted)", timeout=60)
            assert operator.proc is not None and operator.proc.poll() is None, operator.log()
        finally:
            operator.stop()
    log = (tmp_path / "operator.log").read_text(errors="replace")
    denied = refusals(log)
    assert not denied, "the chart's RBAC refused the operator something:\n" + "\n".join(denied[:20])
