"""`helm install --wait` into a namespace where the API server enforces the `restricted` Pod Security Standard:
the Deployment becomes available (kwok makes the pod Running and Ready; the image is never pulled), then
`helm uninstall` removes everything the release made."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.e2e.helm import CHART, CRD_NOT_INSTALLED, Helm
from tests.support.kube import Kube

RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}


def test_install_is_available_under_restricted_pod_security_and_uninstalls(
    helm: Helm, kube: Kube, crd: None, new_namespace: Callable[..., str], releases: list[tuple[str, str]]
) -> None:
    ns = new_namespace("e2e-install", **RESTRICTED)
    watched = new_namespace("e2e-watched")
    # The namespace really enforces: a pod that is not restricted is refused.
    bad = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "root", "namespace": ns},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    proc = kube.run("create", "--dry-run=server", "-f", "-", input=json.dumps(bad), check=False)
    assert proc.returncode != 0 and "violates PodSecurity \"restricted:latest\"" in proc.stderr, proc.stderr

    # ClusterRoles are cluster-scoped: release names unique per run, so concurrent runs never collide.
    suffix = ns.rsplit("-", 1)[1]
    cw, nsd = f"cw-{suffix}", f"nsd-{suffix}"
    for release, extra in ((cw, []), (nsd, ["--set", f"watchNamespaces={{{watched}}}", "--set", "podDisruptionBudget.enabled=true"])):
        releases.append((release, ns))
        proc = helm.run("install", release, str(CHART), "--namespace", ns, "--wait", "--timeout", "120s", *CRD_NOT_INSTALLED, *extra, timeout=180)
        assert "STATUS: deployed" in proc.stdout, proc.stdout
        name = f"{release}-taskaction-operator"
        deployment = kube.get("deployment", name, ns)
        available = [c for c in deployment["status"]["conditions"] if c["type"] == "Available"]
        assert available and available[0]["status"] == "True", deployment["status"]
        assert deployment["status"]["readyReplicas"] == 1

        (pod,) = kube.list("pods", ns, f"app.kubernetes.io/instance={release}")
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["serviceAccountName"] == name
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        (container,) = spec["containers"]
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"] and sc["readOnlyRootFilesystem"] is True
        assert sc["runAsUser"] == 65532
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["TASKACTION_BIND_ADDRESS"] == "0.0.0.0"
        assert env["TASKACTION_NAMESPACES"] == json.dumps([watched] if release == nsd else [])
        # Nothing was refused on the way: the ReplicaSet created its pod at the first try.
        warnings = kube.run("get", "events", "-n", ns, "--field-selector", "type=Warning", "-o", "json").stdout
        assert "FailedCreate" not in warnings, warnings

        service = kube.get("service", f"{name}-metrics", ns)
        assert service["spec"]["ports"][0]["targetPort"] == "metrics"
        if release == nsd:
            assert kube.get("role", name, watched) is not None and kube.get("rolebinding", name, watched) is not None
            assert kube.get("poddisruptionbudget", name, ns) is not None
        else:
            assert kube.run("get", "clusterrole", name, check=False).returncode == 0

    releases = json.loads(helm.run("list", "--namespace", ns, "-o", "json").stdout)
    assert sorted(r["name"] for r in releases) == [cw, nsd] and {r["status"] for r in releases} == {"deployed"}

    for release in (cw, nsd):
        helm.run("uninstall", release, "--namespace", ns, "--wait", "--timeout", "120s", timeout=180)
    for kind in ("deployment", "serviceaccount", "service", "role", "rolebinding", "poddisruptionbudget"):
        left = kube.run("get", kind, "-n", ns, "-l", "app.kubernetes.io/managed-by=Helm", "-o", "name").stdout.strip()
        assert left == "", f"{kind} left behind by helm uninstall: {left}"
    assert kube.get("role", f"{nsd}-taskaction-operator", watched) is None
    for kind in ("clusterrole", "clusterrolebinding"):
        name = f"{cw}-taskaction-operator"
        assert kube.run("get", kind, name, check=False).returncode != 0, f"{kind} {name} left behind"
    # The CRD is not the release's here (CRD_NOT_INSTALLED; test_upgrade.py uninstalls one that is): it stays.
    assert kube.run("get", "crd", "taskactions.flyte.org", check=False).returncode == 0
