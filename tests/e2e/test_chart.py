"""The chart on its own: lint, render, validate offline (kubernetes-validate) and against the real API server
(`kubectl apply --dry-run=server`), the values schema, and the rendered env against the operator's Settings."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import kubernetes_validate
import pytest
import yaml

from taskaction_operator.settings import Settings
from tests.e2e.helm import CHART, REPO, Helm, find, one, release_objects
from tests.support.kube import Kube

# The kube-apiserver of the local cluster; kubernetes-validate ships schemas up to 1.37.
K8S_VERSION = "1.36.0"

EVERYTHING = [
    "--set", "serviceMonitor.enabled=true",
    "--set", "grafanaDashboard.enabled=true",
    "--set", "prometheusRule.enabled=true",
    "--set", "podDisruptionBudget.enabled=true",
    "--set", "networkPolicy.enabled=true",
    "--set-json", 'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"monitoring"}}}]',
    "--set-json", 'networkPolicy.egress=[{"ports":[{"port":443,"protocol":"TCP"},{"port":53,"protocol":"UDP"}]}]',
    "--set", "storage.endpoint=http://seaweedfs.storage:8333",
    "--set", "storage.region=us-east-1",
    "--set", "storage.existingSecret=taskaction-s3",
    "--set", "podTemplates.defaultName=flyte-template",
    "--set-json", 'defaultEnvVars={"FLYTE_AWS_ENDPOINT":"http://seaweedfs.storage:8333","_U_USE_ACTIONS":"1"}',
    "--set-json", 'nodeSelector={"kubernetes.io/os":"linux"}',
    "--set-json", 'tolerations=[{"key":"dedicated","operator":"Equal","value":"flyte","effect":"NoSchedule"}]',
    "--set-json", 'affinity={"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"preference":{"matchExpressions":[{"key":"kubernetes.io/os","operator":"In","values":["linux"]}]}}]}}',
    "--set-json", 'extraEnv=[{"name":"TASKACTION_DEFAULT_CPU","value":"500m"}]',
    "--set", "logFormat=json",
    "--set", "gc.ttlSeconds=86400",
    "--set", "retryBackoff.baseSeconds=5",
    "--set", "api.podCreateQps=20",
    "--set", "concurrency.maxRunningPerRun=100",
    "--set", "replicas=2",
    "--set", "leaderElection.enabled=true",
    "--set", "podStorage.endpoint=http://seaweedfs.storage:8333",
    "--set", "podStorage.secret=task-s3",
    "--set", "bootstrap.image.repository=registry.example.com/taskaction-runtime",
    "--set", "bootstrap.cacheHostPath=/var/cache/taskaction-bundles",
    "--set", "podPolicy.level=restricted",
    "--set-json", 'podPolicy.serviceAccounts=["etl","reports"]',
    "--set", "actionsService.enabled=true",
    "--set-json", 'networkPolicy.actionsFrom=[{"namespaceSelector":{"matchLabels":{"flyte.org/tasks":"true"}}}]',
    "--set", "events.serviceUrl=http://flyte-binary-http.flyte.svc:8090",
    "--set", "events.cluster=prod-1",
    "--set", "tracing.otlpEndpoint=http://otel-collector.monitoring:4318/v1/traces",
    "--set", "events.abortWaitSeconds=30",
    "--set", "cache.serviceUrl=http://flyte-binary-http.flyte.svc:8094",
    "--set", "cache.maxAgeSeconds=86400",
    "--set", "copilot.image=registry.example.com/flyte-binary-v2:2.0.43",
    "--set-json", 'events.logs={"kubernetes-enabled":false,"templates":[{"displayName":"Loki","templateUris":["https://loki/{{ .podName }}"],"messageFormat":"JSON"}]}',
]


def test_chart_crd_is_the_repository_crd(helm: Helm) -> None:
    ours = (REPO / "crds" / "taskactions.flyte.org.yaml").read_bytes()
    chart = (CHART / "files" / "taskactions.flyte.org.yaml").read_bytes()
    assert chart == ours, (
        "charts/taskaction-operator/files/taskactions.flyte.org.yaml differs from crds/taskactions.flyte.org.yaml; "
        "run: cp crds/taskactions.flyte.org.yaml charts/taskaction-operator/files/"
    )
    assert not (CHART / "crds").exists(), "a crds/ directory is installed once and never upgraded: the CRD is a template"
    # Rendered as a template (so that `helm upgrade` applies it): the same spec, the release's labels, kept.
    rendered = one(helm.docs(release="r", namespace="ops", crds=False), "CustomResourceDefinition")
    repository = yaml.safe_load(ours)
    assert rendered["spec"] == repository["spec"] and rendered["metadata"]["name"] == repository["metadata"]["name"]
    assert rendered["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert rendered["metadata"]["labels"]["app.kubernetes.io/instance"] == "r"
    assert "annotations" not in one(helm.docs("--set", "crds.keep=false"), "CustomResourceDefinition")["metadata"]
    assert not find(helm.docs("--set", "crds.install=false"), "CustomResourceDefinition")


def test_chart_app_version_is_the_package_version() -> None:
    import tomllib

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"] == "0.1.0"


def test_lint_strict(helm: Helm) -> None:
    proc = helm.run("lint", "--strict", str(CHART))
    assert "0 chart(s) failed" in proc.stdout, proc.stdout
    proc = helm.run("lint", "--strict", str(CHART), "--set", "watchNamespaces={a,b}", *EVERYTHING)
    assert "0 chart(s) failed" in proc.stdout, proc.stdout


def _validate_offline(docs: list[dict[str, Any]]) -> list[str]:
    """Every built-in kind against the Kubernetes OpenAPI schema, strict (unknown fields are errors)."""
    checked = []
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # not a built-in kind; checked in test_optional_objects
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            raise AssertionError(f"{doc['kind']}/{doc['metadata']['name']}: {e.message} at {list(e.path)}") from e
        checked.append(f"{doc['kind']}/{doc['metadata']['name']}")
    return checked


@pytest.mark.parametrize("variant", ["default", "namespaced", "everything", "namespaced-actions"])
def test_rendered_manifests_validate_offline_and_on_the_api_server(
    variant: str, helm: Helm, kube: Kube, crd: None, new_namespace: Callable[..., str]
) -> None:
    release_ns = new_namespace("e2e-tpl")
    args: list[str] = []
    if variant == "namespaced":
        args = ["--set", f"watchNamespaces={{{new_namespace('e2e-w1')},{new_namespace('e2e-w2')}}}"]
    elif variant == "everything":
        args = EVERYTHING
    elif variant == "namespaced-actions":  # the actions service's Role in the first watched namespace
        args = ["--set", f"watchNamespaces={{{new_namespace('e2e-w1')}}}", "--set", "actionsService.enabled=true"]
    text = helm.template(*args, release="tpl", namespace=release_ns)
    docs = [d for d in yaml.safe_load_all(text) if d]
    checked = _validate_offline(docs)
    assert "Deployment/tpl-taskaction-operator" in checked and "CustomResourceDefinition/taskactions.flyte.org" in checked

    # The `helm test` pod is left out: admission looks up its ServiceAccount, which a dry run does not create
    # (tests/e2e/test_helm_test.py runs it).
    server = [d for d in docs if not d["apiVersion"].startswith("monitoring.coreos.com/") and d["kind"] != "Pod"]
    proc = kube.run("apply", "--dry-run=server", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in server), check=False)
    assert proc.returncode == 0, f"kubectl apply --dry-run=server rejected the {variant} render:\n{proc.stderr}"
    assert proc.stdout.count("(server dry run)") == len(server) == len(checked) - 1, proc.stdout


def test_rbac_is_cluster_wide_by_default_and_namespaced_with_watch_namespaces(helm: Helm) -> None:
    docs = release_objects(helm.docs(release="r", namespace="ops"))
    # One ClusterRole: the operator watches TaskActions and pods itself, so nothing asks for CRDs (kopf scans nothing).
    assert [d["metadata"]["name"] for d in find(docs, "ClusterRole")] == ["r-taskaction-operator"]
    assert [d["metadata"]["name"] for d in find(docs, "ClusterRoleBinding")] == ["r-taskaction-operator"]
    assert [(d["metadata"]["namespace"], d["metadata"]["name"]) for d in find(docs, "Role")] == [("ops", "r-taskaction-operator-leader-election")]
    assert "customresourcedefinitions" not in str(find(docs, "ClusterRole"))
    binding = one(docs, "ClusterRoleBinding", "r-taskaction-operator")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "r-taskaction-operator", "namespace": "ops"}]

    docs = release_objects(helm.docs("--set", "watchNamespaces={a,b}", release="r", namespace="ops"))
    # Nothing cluster-wide: each namespace is watched by name (controller/watches.py).
    assert find(docs, "ClusterRole") == [] and find(docs, "ClusterRoleBinding") == []
    roles = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in find(docs, "Role")}
    assert roles == {
        ("a", "r-taskaction-operator"),
        ("b", "r-taskaction-operator"),
        ("ops", "r-taskaction-operator-podtemplates"),  # the PodTemplate fallback namespace, not watched
        ("ops", "r-taskaction-operator-leader-election"),
    }
    # The namespaced rules are the cluster-wide ones.
    cluster_rules = one(release_objects(helm.docs(release="r", namespace="ops")), "ClusterRole", "r-taskaction-operator")["rules"]
    assert one([d for d in docs if d["metadata"].get("namespace") == "a"], "Role")["rules"] == cluster_rules

    docs = release_objects(helm.docs("--set", "rbac.create=false", "--set", "serviceAccount.create=false", "--set", "serviceAccount.name=mine"))
    assert not [d for d in docs if d["apiVersion"].startswith("rbac.") or d["kind"] == "ServiceAccount"]
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "mine"


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_rendered_env_is_what_the_operator_reads(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every TASKACTION_* variable the chart sets is a Settings field (a typo would be silently ignored), and the
    values parse into the settings the values asked for."""
    env = _env(one(helm.docs(*EVERYTHING, "--set", "watchNamespaces={team-a,team-b}", "--set", "api.burst=1000000"), "Deployment"))
    fields = {f"TASKACTION_{name.upper()}" for name in Settings.model_fields}
    assert {k for k in env if k.startswith("TASKACTION_")} - fields == set()

    refs = {k: v for k, v in env.items() if isinstance(v, dict)}
    assert refs == {
        "POD_NAME": {"fieldRef": {"fieldPath": "metadata.name"}},
        "POD_NAMESPACE": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        "TASKACTION_STORAGE_ACCESS_KEY_ID": {"secretKeyRef": {"name": "taskaction-s3", "key": "access-key-id"}},
        "TASKACTION_STORAGE_SECRET_ACCESS_KEY": {"secretKeyRef": {"name": "taskaction-s3", "key": "secret-access-key"}},
    }
    for name in list(Settings.model_fields):
        monkeypatch.delenv(f"TASKACTION_{name.upper()}", raising=False)
    for key, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("POD_NAME", "ta-taskaction-operator-7d9f-x2x4q")  # what the downward API gives
    monkeypatch.setenv("POD_NAMESPACE", "taskaction-system")
    settings = Settings()
    assert settings.namespaces == ["team-a", "team-b"]
    assert (settings.bind_address, settings.metrics_port, settings.health_port) == ("0.0.0.0", 8080, 8081)
    assert (settings.log_format, settings.max_concurrent_reconciles, settings.api_qps, settings.api_burst) == ("json", 64, 500, 1000000)
    assert (settings.gc_interval_seconds, settings.gc_ttl_seconds, settings.read_outputs) == (1800, 86400, True)
    assert (settings.storage_endpoint, settings.storage_region) == ("http://seaweedfs.storage:8333", "us-east-1")
    # defaultEnvVars merged with what the actions service adds to task pods.
    assert settings.default_env_vars == {
        "FLYTE_AWS_ENDPOINT": "http://seaweedfs.storage:8333",
        "_U_USE_ACTIONS": "1",
        "_U_EP_OVERRIDE": "http://ta-taskaction-operator-actions.taskaction-system.svc:8090",
    }
    assert (settings.actions_service_address, settings.actions_service_namespace) == ("0.0.0.0:8090", "team-a")
    assert (settings.default_pod_template_name, settings.pod_template_namespace) == ("flyte-template", "taskaction-system")
    assert (settings.pod_storage_endpoint, settings.pod_storage_region, settings.pod_storage_secret) == ("http://seaweedfs.storage:8333", None, "task-s3")
    assert (settings.bootstrap_image, settings.bootstrap_cache_host_path) == ("registry.example.com/taskaction-runtime:0.1.0", "/var/cache/taskaction-bundles")
    assert (settings.pod_security_level, settings.pod_service_accounts) == ("restricted", ["etl", "reports"])
    assert settings.leader_election is True and settings.leader_election_lease == "taskaction-operator"
    assert (settings.leader_election_namespace, settings.leader_election_identity) == ("taskaction-system", "ta-taskaction-operator-7d9f-x2x4q")
    assert settings.default_cpu == "500m"  # from extraEnv
    assert (settings.retry_backoff_seconds, settings.retry_backoff_max_seconds) == (5, 300)
    assert (settings.pod_create_qps, settings.pod_create_burst) == (20, 10)
    assert (settings.max_running_per_namespace, settings.max_running_per_run) == (0, 100)
    assert settings.tracing_otlp_endpoint == "http://otel-collector.monitoring:4318/v1/traces"
    assert (settings.events_service_url, settings.events_cluster, settings.abort_event_wait_seconds) == ("http://flyte-binary-http.flyte.svc:8090", "prod-1", 30)
    assert (settings.cache_service_url, settings.cache_timeout_seconds, settings.cache_max_age_seconds) == ("http://flyte-binary-http.flyte.svc:8094", 10, 86400)
    assert (settings.copilot_image, settings.copilot_cpu, settings.copilot_memory, settings.copilot_timeout_seconds) == (
        "registry.example.com/flyte-binary-v2:2.0.43", "500m", "128Mi", 3600
    )
    assert not settings.logs.kubernetes_enabled and [(t.display_name, t.template_uris) for t in settings.logs.templates] == [("Loki", ["https://loki/{{ .podName }}"])]

    defaults = _env(one(helm.docs(), "Deployment"))
    assert defaults["TASKACTION_NAMESPACES"] == "[]" and defaults["TASKACTION_DEFAULT_ENV_VARS"] == "{}"
    assert defaults["TASKACTION_LEADER_ELECTION"] == "false"
    assert (defaults["TASKACTION_POD_SECURITY_LEVEL"], defaults["TASKACTION_POD_SERVICE_ACCOUNTS"]) == ("baseline", "[]")
    assert defaults["TASKACTION_BOOTSTRAP_IMAGE"] == "ghcr.io/taskaction-operator/taskaction-runtime:0.1.0"
    for unset in ("TASKACTION_STORAGE_ACCESS_KEY_ID", "TASKACTION_STORAGE_ENDPOINT", "TASKACTION_POD_STORAGE_SECRET",
                  "TASKACTION_ACTIONS_SERVICE_ADDRESS", "TASKACTION_ACTIONS_SERVICE_NAMESPACE", "TASKACTION_EVENTS_SERVICE_URL", "TASKACTION_LOGS",
                  "TASKACTION_CACHE_SERVICE_URL", "TASKACTION_COPILOT_IMAGE", "TASKACTION_TRACING_OTLP_ENDPOINT"):
        assert unset not in defaults


def test_deployment_defaults(helm: Helm) -> None:
    docs = helm.docs()
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 1
    assert container["image"] == "ghcr.io/taskaction-operator/taskaction-operator:0.1.0"  # the chart's appVersion
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"metrics": 8080, "health": 8081}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    # With leader election a standby is never /readyz: readiness falls back to /healthz so rollouts proceed.
    ha = one(helm.docs("--set", "replicas=2", "--set", "leaderElection.enabled=true"), "Deployment")
    assert ha["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["emptyDir"]
    service = one(docs, "Service")
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert not find(docs, "ServiceMonitor") and not find(docs, "PodDisruptionBudget")
    # The NetworkPolicy is on by default: only /metrics (and the actions service when served) from other pods.
    assert [rule["ports"] for rule in one(docs, "NetworkPolicy")["spec"]["ingress"]] == [[{"port": "metrics", "protocol": "TCP"}]]
    assert not find(helm.docs("--set", "networkPolicy.enabled=false"), "NetworkPolicy")
    def images(*args: str) -> tuple[str, str]:
        deployment = one(helm.docs(*args), "Deployment")
        return deployment["spec"]["template"]["spec"]["containers"][0]["image"], _env(deployment)["TASKACTION_BOOTSTRAP_IMAGE"]

    digest = "sha256:" + "0123456789abcdef" * 4
    assert images("--set", "image.tag=dev", "--set", "bootstrap.image.tag=dev") == (
        "ghcr.io/taskaction-operator/taskaction-operator:dev", "ghcr.io/taskaction-operator/taskaction-runtime:dev")
    # A digest wins over the tag.
    assert images("--set", "image.tag=dev", "--set", f"image.digest={digest}", "--set", "bootstrap.image.repository=r.example/rt",
                  "--set", f"bootstrap.image.digest={digest}") == (
        f"ghcr.io/taskaction-operator/taskaction-operator@{digest}", f"r.example/rt@{digest}")


def test_optional_objects(helm: Helm) -> None:
    docs = helm.docs(*EVERYTHING)
    service = one(docs, "Service", "ta-taskaction-operator-metrics")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1 and "maxUnavailable" not in pdb["spec"]
    pdb = one(helm.docs("--set", "podDisruptionBudget.enabled=true", "--set", "podDisruptionBudget.maxUnavailable=1"), "PodDisruptionBudget")
    assert pdb["spec"] == {"maxUnavailable": 1, "selector": pdb["spec"]["selector"]}
    policy = one(docs, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert policy["spec"]["ingress"][1] == {
        "ports": [{"port": "actions", "protocol": "TCP"}],
        "from": [{"namespaceSelector": {"matchLabels": {"flyte.org/tasks": "true"}}}],
    }
    assert one(helm.docs("--set", "networkPolicy.enabled=true"), "NetworkPolicy")["spec"]["policyTypes"] == ["Ingress"]


@pytest.mark.parametrize(
    ("args", "field", "why"),
    [
        (["--set", "logFormat=xml"], "/logFormat", "value must be one of 'text', 'json'"),
        (["--set", "maxConcurrentReconciles=0"], "/maxConcurrentReconciles", "minimum: got 0, want 1"),
        (["--set", "replicas=two"], "/replicas", "got string, want integer"),
        (["--set", "image.repository=null"], "/image", "missing property 'repository'"),
        (["--set", "image.digest=abc"], "/image/digest", "does not match pattern"),
        (["--set", "bootstrap.image=runtime:1"], "/bootstrap/image", "got string, want object"),
        (["--set", "crds.install=yes"], "/crds/install", "got string, want boolean"),
        (["--set", "helmTest.command=null"], "/helmTest", "missing property 'command'"),
        (["--set", "helmTest.command=true"], "/helmTest/command", "got boolean, want array"),
        (["--set", "gc.intervalSeconds=-5"], "/gc/intervalSeconds", "minimum: got -5, want 0"),
        (["--set", "watchNamespaces={Team_A}"], "/watchNamespaces/0", "does not match pattern"),
        (["--set", "readOutputs=maybe"], "/readOutputs", "got string, want boolean"),
        (["--set", "metrics.port=70000"], "/metrics/port", "maximum: got 70,000, want 65,535"),
        (["--set", "gcc.ttlSeconds=1"], "", "additional properties 'gcc' not allowed"),
        (["--set", "replicas=3"], "/leaderElection/enabled", "value must be true"),
        (["--set", "livenessProbe.path=/readyz"], "/livenessProbe", "additional properties 'path' not allowed"),
        (["--set", "actionsService.port=0"], "/actionsService/port", "minimum: got 0, want 1"),
        (["--set", "actionsService.port=65536"], "/actionsService/port", "maximum: got 65,536, want 65,535"),
        (["--set", "actionsService.enabled=yes"], "/actionsService/enabled", "got string, want boolean"),
        (["--set", "actionsService.namespace=Flyte_NS"], "/actionsService/namespace", "does not match pattern"),
        (["--set", "podPolicy.level=none"], "/podPolicy/level", "value must be one of 'privileged', 'baseline', 'restricted'"),
        (["--set", "podPolicy.serviceAccounts={Admin}"], "/podPolicy/serviceAccounts/0", "does not match pattern"),
        (["--set", "events.abortWaitSeconds=-1"], "/events/abortWaitSeconds", "minimum: got -1, want 0"),
        (["--set", "events.serviceUrl=flyte:8090"], "/events/serviceUrl", "does not match pattern"),
        (["--set", "cache.serviceUrl=flyte:8094"], "/cache/serviceUrl", "does not match pattern"),
        (["--set", "cache.timeoutSeconds=0"], "/cache/timeoutSeconds", "exclusiveMinimum"),
        (["--set", "copilot.timeoutSeconds=0"], "/copilot/timeoutSeconds", "minimum: got 0, want 1"),
        (["--set", "tracing.otlpEndpoint=collector:4318"], "/tracing/otlpEndpoint", "does not match pattern"),
        (["--set", "events.logs.cloudwatch_enabled=true"], "/events/logs", "additional properties 'cloudwatch_enabled' not allowed"),
    ],
)
def test_schema_rejects_bad_values(helm: Helm, args: list[str], field: str, why: str) -> None:
    proc = helm.run("template", "ta", str(CHART), *args, check=False)
    assert proc.returncode != 0, f"helm accepted {args}"
    assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr
    assert f"at '{field}'" in proc.stderr and why in proc.stderr, proc.stderr


def test_schema_is_draft_07_and_accepts_the_defaults() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"]), set(values) - set(schema["properties"])


def test_helm_test_hook_submits_a_taskaction_in_a_watched_namespace(helm: Helm) -> None:
    docs = [d for d in helm.docs("--set", "watchNamespaces={team-a,team-b}", release="r", namespace="ops") if d not in release_objects([d])]
    assert sorted((d["kind"], d["metadata"]["namespace"]) for d in docs) == [
        ("Pod", "ops"), ("Role", "team-a"), ("RoleBinding", "team-a"), ("ServiceAccount", "ops")]
    assert {d["metadata"]["annotations"]["helm.sh/hook"] for d in docs} == {"test"}
    assert {d["metadata"]["annotations"]["helm.sh/hook-delete-policy"] for d in docs} == {"before-hook-creation,hook-succeeded"}
    pod = one(docs, "Pod")["spec"]
    assert pod["serviceAccountName"] == "r-taskaction-operator-test" and pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/taskaction-operator/taskaction-operator:0.1.0"
    assert container["command"] == [
        "taskaction", "submit", "--namespace=team-a", "--image=ghcr.io/taskaction-operator/taskaction-runtime:0.1.0",
        "--command", "--watch", "--", "python3", "-c", "print('taskaction-operator: helm test')"]
    assert one(docs, "Role")["rules"] == [{"apiGroups": ["flyte.org"], "resources": ["taskactions"], "verbs": ["create", "list", "watch"]}]
    # Cluster-wide: the release namespace; helmTest.namespace wins.
    assert "--namespace=ops" in one(helm.docs(release="r", namespace="ops"), "Pod")["spec"]["containers"][0]["command"]
    assert "--namespace=x" in one(helm.docs("--set", "helmTest.namespace=x", release="r", namespace="ops"), "Pod")["spec"]["containers"][0]["command"]
    assert not find(helm.docs("--set", "helmTest.enabled=false"), "Pod")


def test_dashboard_and_alerts(helm: Helm) -> None:
    assert not find(helm.docs(), "ConfigMap") and not find(helm.docs(), "PrometheusRule")  # off by default: no CRD needed
    docs = helm.docs("--set", "grafanaDashboard.enabled=true", "--set", "grafanaDashboard.namespace=monitoring", "--set", "prometheusRule.enabled=true",
                     "--set", "leaderElection.enabled=true", "--set", "prometheusRule.labels.release=kps", release="r", namespace="ops")
    dashboard = one(docs, "ConfigMap", "r-taskaction-operator-dashboard")
    assert dashboard["metadata"]["namespace"] == "monitoring" and dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["taskaction-operator.json"]) == json.loads((CHART / "files" / "grafana-dashboard.json").read_text())

    rule = one(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    rules = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(rules) == {"TaskActionReconcileErrors", "TaskActionQueueDepth", "TaskActionQueueLatency", "TaskActionStuckReconcile",
                          "TaskActionPodCreateFailures", "TaskActionGarbageCollectionStalled", "TaskActionEventsBacklog",
                          "TaskActionLeaderChanges", "TaskActionNoLeader"}
    # Scoped to this release's scrape job (the ServiceMonitor's, named after the metrics Service).
    assert all('namespace="ops", job="r-taskaction-operator-metrics"' in r["expr"] for r in rules.values())
    assert rules["TaskActionGarbageCollectionStalled"]["expr"].strip().endswith("> 5400")  # 3 sweeps of 1800 s
    assert rules["TaskActionReconcileErrors"]["annotations"]["summary"].startswith("More than 5% ")
    assert rules["TaskActionQueueDepth"]["annotations"]["summary"] == "{{ $value }} TaskActions wait to be reconciled."
    # No collector, no stall alert; no leader election, no leader alert.
    rules = one(helm.docs("--set", "prometheusRule.enabled=true", "--set", "gc.intervalSeconds=0"), "PrometheusRule")["spec"]["groups"][0]["rules"]
    assert {"TaskActionGarbageCollectionStalled", "TaskActionNoLeader"}.isdisjoint(r["alert"] for r in rules)
