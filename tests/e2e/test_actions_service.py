"""The chart's actionsService: what it renders when enabled and when not (auth, TLS), and RBAC proved by serving the
real actions service with a token of the chart's ServiceAccount (every RPC, including the namespace it creates and
the TokenReview / SubjectAccessReview of its caller) plus `kubectl auth can-i` for what that account still cannot do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from connectrpc.errors import ConnectError
from flyteidl2.actions import actions_service_pb2 as pb
from flyteidl2.actions.actions_service_connect import ActionsServiceClient
from flyteidl2.common import identifier_pb2, identity_pb2
from flyteidl2.core import literals_pb2, types_pb2
from flyteidl2.task import task_definition_pb2
from flyteidl2.workflow import run_definition_pb2

from taskaction_operator.client.manifests import container_template
from taskaction_operator.settings import Settings
from tests.e2e.helm import CHART, CRD_NOT_INSTALLED, Helm, find, one, release_objects
from tests.e2e.test_rbac import can_i, sa_kubeconfig
from tests.support.kube import Kube
from tests.support.operator_process import listens
from tests.support.ports import free_port
from tests.support.processes import DIE_WITH_PARENT
from tests.support.tokens import BearerToken, token
from tests.support.waiting import wait_until, wait_until_async

ENABLED = ["--set", "actionsService.enabled=true"]
# An http:// URL and no _U_INSECURE: the Flyte SDK then sends the pod's token (docs/actions-service.md, Authentication).
TASK_POD_ENV = {"_U_EP_OVERRIDE": "http://r-taskaction-operator-actions.ops.svc:8090", "_U_USE_ACTIONS": "1"}
REVIEWS = [
    {"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
]


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def _env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _container(docs)["env"]}


def _actions_rbac(docs: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return sorted((d["kind"], d["metadata"].get("namespace")) for d in docs if d["metadata"]["name"].endswith("-actions-service"))


# --- rendering ------------------------------------------------------------------------------------------------------


def test_disabled_by_default_renders_none_of_it(helm: Helm) -> None:
    docs = helm.docs("--set", "networkPolicy.enabled=true", release="r", namespace="ops")
    env = _env(docs)
    assert "TASKACTION_ACTIONS_SERVICE_ADDRESS" not in env and "TASKACTION_ACTIONS_SERVICE_NAMESPACE" not in env
    assert env["TASKACTION_DEFAULT_ENV_VARS"] == "{}"
    assert [p["name"] for p in _container(docs)["ports"]] == ["metrics", "health"]
    assert [d["metadata"]["name"] for d in find(docs, "Service")] == ["r-taskaction-operator-metrics"]
    assert _actions_rbac(docs) == []
    assert [r["ports"] for r in one(docs, "NetworkPolicy")["spec"]["ingress"]] == [[{"port": "metrics", "protocol": "TCP"}]]
    # Nobody can create TaskActions or namespaces through the release's rules (the `helm test` account can create
    # TaskActions, in one namespace, while `helm test` runs: test_chart.py).
    rules = [r for d in release_objects(docs) if d["kind"] in ("ClusterRole", "Role") for r in d["rules"]]
    assert not [r for r in rules if "create" in r["verbs"] and {"taskactions", "namespaces"} & set(r["resources"])]


def test_enabled_serves_beyond_loopback_behind_a_service_and_points_task_pods_at_it(helm: Helm, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = helm.docs(*ENABLED, "--set", "networkPolicy.enabled=true", release="r", namespace="ops")
    env = _env(docs)
    assert env["TASKACTION_ACTIONS_SERVICE_ADDRESS"] == "0.0.0.0:8090"
    assert env["TASKACTION_ACTIONS_SERVICE_NAMESPACE"] == "flyte"
    assert json.loads(env["TASKACTION_DEFAULT_ENV_VARS"]) == TASK_POD_ENV
    assert {"name": "actions", "containerPort": 8090, "protocol": "TCP"} in _container(docs)["ports"]

    service = one(docs, "Service", "r-taskaction-operator-actions")
    assert service["metadata"]["namespace"] == "ops"
    assert service["spec"]["type"] == "ClusterIP"
    # port name http, no appProtocol: Connect over HTTP/1.1 and gRPC over h2c share the port.
    assert service["spec"]["ports"] == [{"name": "http", "port": 8090, "targetPort": "actions", "protocol": "TCP"}]
    assert service["spec"]["selector"] == one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert one(docs, "NetworkPolicy")["spec"]["ingress"][1] == {"ports": [{"port": "actions", "protocol": "TCP"}]}  # any source

    # The operator's own Settings read it as asked (a typo in a variable name would be silently ignored).
    for name in Settings.model_fields:
        monkeypatch.delenv(f"TASKACTION_{name.upper()}", raising=False)
    for key, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(key, value)
    settings = Settings()
    assert (settings.actions_service_address, settings.actions_service_namespace) == ("0.0.0.0:8090", "flyte")
    assert settings.default_env_vars == TASK_POD_ENV

    # Another port moves all three: the listener, the Service and what task pods dial.
    docs = helm.docs(*ENABLED, "--set", "actionsService.port=9443", release="r", namespace="ops")
    assert _env(docs)["TASKACTION_ACTIONS_SERVICE_ADDRESS"] == "0.0.0.0:9443"
    assert {"name": "actions", "containerPort": 9443, "protocol": "TCP"} in _container(docs)["ports"]
    assert one(docs, "Service", "r-taskaction-operator-actions")["spec"]["ports"][0]["port"] == 9443
    assert json.loads(_env(docs)["TASKACTION_DEFAULT_ENV_VARS"])["_U_EP_OVERRIDE"] == "http://r-taskaction-operator-actions.ops.svc:9443"


def test_auth_is_on_by_default_and_task_pods_get_the_token(helm: Helm) -> None:
    env = _env(helm.docs(*ENABLED, release="r", namespace="ops"))
    assert (env["TASKACTION_ACTIONS_SERVICE_AUTH"], env["TASKACTION_ACTIONS_SERVICE_POD_TOKEN"]) == ("true", "true")
    assert (env["TASKACTION_ACTIONS_SERVICE_TOKEN_AUDIENCE"], env["TASKACTION_ACTIONS_SERVICE_AUTH_CACHE_SECONDS"]) == ("taskaction-actions", "10")
    assert _env(helm.docs(release="r", namespace="ops"))["TASKACTION_ACTIONS_SERVICE_POD_TOKEN"] == "false"  # no service


def test_auth_off_is_the_old_cleartext_endpoint_and_no_reviews(helm: Helm) -> None:
    docs = helm.docs(*ENABLED, "--set", "actionsService.auth.enabled=false", release="r", namespace="ops")
    env = _env(docs)
    assert (env["TASKACTION_ACTIONS_SERVICE_AUTH"], env["TASKACTION_ACTIONS_SERVICE_POD_TOKEN"]) == ("false", "false")
    assert json.loads(env["TASKACTION_DEFAULT_ENV_VARS"]) == {
        "_U_EP_OVERRIDE": "r-taskaction-operator-actions.ops.svc:8090", "_U_INSECURE": "true", "_U_USE_ACTIONS": "1"
    }
    rules = one(docs, "ClusterRole", "r-taskaction-operator-actions-service")["rules"]
    assert not [rule for rule in rules if rule in REVIEWS]


def test_tls_serves_the_secrets_certificate_and_task_pods_dial_https(helm: Helm) -> None:
    docs = helm.docs(*ENABLED, "--set", "actionsService.tls.secretName=actions-cert", release="r", namespace="ops")
    env = _env(docs)
    assert env["TASKACTION_ACTIONS_SERVICE_TLS_CERT_FILE"] == "/etc/taskaction/actions-tls/tls.crt"
    assert env["TASKACTION_ACTIONS_SERVICE_TLS_KEY_FILE"] == "/etc/taskaction/actions-tls/tls.key"
    assert {"name": "actions-tls", "mountPath": "/etc/taskaction/actions-tls", "readOnly": True} in _container(docs)["volumeMounts"]
    volumes = one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "actions-tls", "secret": {"secretName": "actions-cert"}} in volumes
    assert json.loads(env["TASKACTION_DEFAULT_ENV_VARS"])["_U_EP_OVERRIDE"] == "https://r-taskaction-operator-actions.ops.svc:8090"


def test_default_env_vars_set_by_the_user_win(helm: Helm) -> None:
    user = {"_U_EP_OVERRIDE": "flyte-http.flyte:8090", "_U_INSECURE": "false", "FLYTE_AWS_ENDPOINT": "http://s3:8333"}
    env = _env(helm.docs(*ENABLED, "--set-json", f"defaultEnvVars={json.dumps(user)}", release="r", namespace="ops"))
    assert json.loads(env["TASKACTION_DEFAULT_ENV_VARS"]) == {**user, "_U_USE_ACTIONS": "1"}
    # values.yaml itself is not changed by the merge: disabled, the user's map goes through as it is.
    assert json.loads(_env(helm.docs("--set-json", f"defaultEnvVars={json.dumps(user)}"))["TASKACTION_DEFAULT_ENV_VARS"]) == user


@pytest.mark.parametrize(
    ("args", "namespace"),
    [
        ([], "flyte"),
        (["--set", "watchNamespaces={team-a,team-b}"], "team-a"),
        (["--set", "watchNamespaces={team-a,team-b}", "--set", "actionsService.namespace=team-b"], "team-b"),
        (["--set", "actionsService.namespace=flyte-runs"], "flyte-runs"),
    ],
)
def test_namespace_is_the_given_one_else_the_first_watched_else_flyte(helm: Helm, args: list[str], namespace: str) -> None:
    assert _env(helm.docs(*ENABLED, *args))["TASKACTION_ACTIONS_SERVICE_NAMESPACE"] == namespace


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--set", "watchNamespaces={team-a}", "--set", "actionsService.namespace=flyte"],
         'actionsService.namespace "flyte" is not one of watchNamespaces [team-a]'),
        (["--set", "actionsService.port=8081"], "actionsService.port 8081 is already the metrics or health port"),
    ],
)  # fmt: skip
def test_render_fails_on_a_service_that_could_not_work(helm: Helm, args: list[str], why: str) -> None:
    proc = helm.run("template", "ta", str(CHART), *ENABLED, *args, check=False)
    assert proc.returncode != 0 and why in proc.stderr, proc.stderr


def test_rbac_adds_enqueue_its_namespace_and_the_reviews_only(helm: Helm) -> None:
    subject = [{"kind": "ServiceAccount", "name": "r-taskaction-operator", "namespace": "ops"}]
    # All namespaces: the namespace may not exist yet (the service creates it), so everything is cluster-wide.
    docs = helm.docs(*ENABLED, release="r", namespace="ops")
    assert _actions_rbac(docs) == [("ClusterRole", None), ("ClusterRoleBinding", None)]
    assert one(docs, "ClusterRole", "r-taskaction-operator-actions-service")["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["flyte"], "verbs": ["get"]},
        *REVIEWS,
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["create"]},
        {"apiGroups": ["flyte.org"], "resources": ["taskactions"], "verbs": ["create"]},
    ]
    assert one(docs, "ClusterRoleBinding", "r-taskaction-operator-actions-service")["subjects"] == subject
    # The operator's own rules are untouched (get/list/watch/delete and status patch already cover the rest).
    disabled = helm.docs(release="r", namespace="ops")
    assert one(docs, "ClusterRole", "r-taskaction-operator")["rules"] == one(disabled, "ClusterRole", "r-taskaction-operator")["rules"]

    # Watched namespaces: a Role in the service's (watched, hence existing) namespace, one namespace readable.
    docs = helm.docs(*ENABLED, "--set", "watchNamespaces={team-a,team-b}", "--set", "actionsService.namespace=team-b", release="r", namespace="ops")
    assert _actions_rbac(docs) == [("ClusterRole", None), ("ClusterRoleBinding", None), ("Role", "team-b"), ("RoleBinding", "team-b")]
    assert one(docs, "ClusterRole", "r-taskaction-operator-actions-service")["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["team-b"], "verbs": ["get"]},
        *REVIEWS,
    ]
    assert one(docs, "Role", "r-taskaction-operator-actions-service")["rules"] == [
        {"apiGroups": ["flyte.org"], "resources": ["taskactions"], "verbs": ["create"]},
    ]
    assert one(docs, "RoleBinding", "r-taskaction-operator-actions-service")["subjects"] == subject

    assert _actions_rbac(helm.docs(*ENABLED, "--set", "rbac.create=false")) == []


# --- RBAC proved on the cluster ---------------------------------------------------------------------------------------


class ServiceProcess:
    """The actions service on its own (`taskaction-actions-service`, the code the operator serves), local."""

    def __init__(self, kubeconfig: Path, env: dict[str, str], log: Path):
        self.address = f"127.0.0.1:{free_port()}"
        self.log = log
        # PYTHONPATH passed on: the code under test is the tree's (a worktree first on the path), not the venv's.
        inherited = {k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}
        full = {"PATH": "/usr/bin:/bin", **inherited, "KUBECONFIG": str(kubeconfig), **env, "TASKACTION_ACTIONS_SERVICE_ADDRESS": self.address}
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "taskaction_operator.actions.server"],
                env=full, stdout=out, stderr=subprocess.STDOUT, preexec_fn=DIE_WITH_PARENT,
            )  # fmt: skip

        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the actions service exited with {self.proc.returncode}")
            return listens(self.address)

        try:
            wait_until(up, 30, f"the actions service never listened on {self.address}")
        except AssertionError as exc:
            self.stop()
            pytest.fail(f"{exc}:\n{log.read_text(errors='replace')[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _action(run: str, name: str, parent: str | None = None) -> pb.Action:
    template = container_template("busybox", ["true"], name="mod.step")
    return pb.Action(
        action_id=identifier_pb2.ActionIdentifier(
            run=identifier_pb2.RunIdentifier(org="local", project="demo", domain="development", name=run), name=name
        ),
        **({"parent_action_name": parent} if parent else {}),
        input_uri=f"s3://flyte-data/demo/development/{run}/{name}/inputs.pb",
        run_output_base=f"s3://flyte-data/demo/development/{run}/",
        task=run_definition_pb2.TaskAction(spec=task_definition_pb2.TaskSpec(task_template=template, short_name="step")),
    )


@pytest.fixture
def service_namespaces(kube: Kube) -> Iterator[list[str]]:
    """Namespaces the actions service creates itself (not through new_namespace): deleted afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        kube.run("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
async def test_the_charts_service_account_serves_every_rpc_and_nothing_more(
    mode: str, helm: Helm, kube: Kube, crd: None, new_namespace: Callable[..., str], releases: list[tuple[str, str]],
    service_namespaces: list[str], tmp_path: Path,
) -> None:  # fmt: skip
    op_ns = new_namespace("e2e-asop")
    other = new_namespace("e2e-asother")
    release = f"as-{op_ns.rsplit('-', 1)[1]}"
    if mode == "cluster-wide":
        # A namespace that does not exist yet: the first Enqueue creates it.
        service_ns = f"e2e-asflyte-{uuid.uuid4().hex[:8]}"
        service_namespaces.append(service_ns)
        values = ["--set", f"actionsService.namespace={service_ns}"]
    else:
        service_ns = new_namespace("e2e-aswork")
        values = ["--set", f"watchNamespaces={{{service_ns}}}"]  # the service's namespace: the first watched one
    releases.append((release, op_ns))
    helm.run("install", release, str(CHART), "--namespace", op_ns, *CRD_NOT_INSTALLED, *ENABLED, *values, timeout=120)
    account = f"{release}-taskaction-operator"
    manifest = [d for d in yaml.safe_load_all(helm.run("get", "manifest", release, "--namespace", op_ns).stdout) if d]
    env = {k: v for k, v in _env(manifest).items() if isinstance(v, str) and k.startswith("TASKACTION_")}
    assert env["TASKACTION_ACTIONS_SERVICE_NAMESPACE"] == service_ns
    assert (kube.get("namespace", service_ns, "default") is None) == (mode == "cluster-wide")

    config = sa_kubeconfig(kube, op_ns, account, tmp_path / "sa.kubeconfig")
    service = ServiceProcess(config, env, tmp_path / "service.log")
    run = f"r{uuid.uuid4().hex[:12]}"
    try:
        # The caller: the chart's ServiceAccount itself, whose RBAC covers every RPC (SubjectAccessReview).
        caller = BearerToken(token(kube, op_ns, account))
        async with ActionsServiceClient(f"http://{service.address}", interceptors=[caller]) as client:
            await client.enqueue(pb.EnqueueRequest(action=_action(run, "a0")))  # namespaces get (+ create), create
            await client.enqueue(pb.EnqueueRequest(action=_action(run, "c1", parent="a0")))  # get the parent
            condition = run_definition_pb2.ConditionAction(name="ok", type=types_pb2.LiteralType(simple=types_pb2.BOOLEAN))
            await client.enqueue(pb.EnqueueRequest(action=pb.Action(action_id=_action(run, "ok").action_id, parent_action_name="a0", condition=condition)))
            # list + watch: the parent's snapshot holds its children.
            seen: set[str] = set()
            async for response in client.watch_for_updates(pb.WatchForUpdatesRequest(parent_action_id=_action(run, "a0").action_id)):
                if response.HasField("control_message"):
                    break
                seen.add(response.action_update.action_id.name)
            assert seen == {"a0", "c1", "ok"}
            yes = literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(boolean=True)))
            who = identity_pb2.EnrichedIdentity(user=identity_pb2.User(id=identifier_pb2.UserIdentifier(subject="e2e")))
            await client.signal(pb.SignalRequest(action_id=_action(run, "ok").action_id, value=yes, signalled_by=who))  # status patch
            await client.abort(pb.AbortRequest(action_id=_action(run, "c1").action_id, reason="e2e"))  # delete
    except ConnectError as exc:
        pytest.fail(f"{exc.code.name}: {exc}\n{(tmp_path / 'service.log').read_text(errors='replace')[-4000:]}")
    finally:
        service.stop()

    assert kube.get("namespace", service_ns, "default") is not None
    assert kube.get("taskaction", f"{run}-a0", service_ns) is not None and kube.get("taskaction", f"{run}-c1", service_ns) is None
    assert kube.get("taskaction", f"{run}-ok", service_ns)["status"]["signalledBy"] == "e2e"
    log = (tmp_path / "service.log").read_text(errors="replace")
    assert f"Enqueued task action {service_ns}/{run}-a0" in log, log[-2000:]  # the log is the service's
    # A refusal is the API server's status, which the client logs as "403 Forbidden: ..." (never bare digits: a
    # port such as 127.0.0.1:40333 holds them too).
    denied = [line for line in log.splitlines() if "forbidden" in line.lower()]
    assert not denied, "the chart's RBAC refused the actions service something:\n" + "\n".join(denied[:20])

    # Nothing beyond it: no other namespace's TaskActions, no other namespace, no namespace writes but create.
    subject = f"system:serviceaccount:{op_ns}:{account}"
    allowed = [
        ("create", "taskactions.flyte.org", service_ns),
        ("get", f"namespaces/{service_ns}", None),
        ("create", "tokenreviews.authentication.k8s.io", None),
        ("create", "subjectaccessreviews.authorization.k8s.io", None),
    ]
    denied_rules = [
        ("get", f"namespaces/{other}", None),
        ("update", f"namespaces/{service_ns}", None),
        ("patch", f"namespaces/{service_ns}", None),
        ("delete", f"namespaces/{service_ns}", None),
        ("update", "taskactions.flyte.org", service_ns),
        ("get", "secrets", service_ns),
    ]
    denied_rules.append(("list", "namespaces", None))  # the operator never lists namespaces
    if mode == "cluster-wide":
        allowed.append(("create", "namespaces", None))
    else:
        denied_rules += [("create", "namespaces", None), ("create", "taskactions.flyte.org", other), ("list", "taskactions.flyte.org", other)]
    wrong = [f"can{'not' if want else ''} {verb} {resource} in {namespace or 'the cluster'}"
             for want, rules in ((True, allowed), (False, denied_rules)) for verb, resource, namespace in rules
             if can_i(kube, subject, verb, resource, namespace) != want]  # fmt: skip
    assert not wrong, wrong


async def test_without_either_review_rule_the_service_cannot_authorize(
    helm: Helm, kube: Kube, crd: None, new_namespace: Callable[..., str], releases: list[tuple[str, str]], tmp_path: Path
) -> None:
    """The ablation of the two rules auth adds (the ClusterRole's tokenreviews and subjectaccessreviews create): each
    one removed, a caller the service answered before gets UNAVAILABLE naming the refusal; put back, it is served."""
    op_ns, service_ns = new_namespace("e2e-asabl"), new_namespace("e2e-asablw")
    release = f"asabl-{op_ns.rsplit('-', 1)[1]}"
    releases.append((release, op_ns))
    helm.run("install", release, str(CHART), "--namespace", op_ns, *CRD_NOT_INSTALLED, *ENABLED, "--set", f"watchNamespaces={{{service_ns}}}",
             timeout=120)
    account = f"{release}-taskaction-operator"
    manifest = [d for d in yaml.safe_load_all(helm.run("get", "manifest", release, "--namespace", op_ns).stdout) if d]
    env = {k: v for k, v in _env(manifest).items() if isinstance(v, str) and k.startswith("TASKACTION_")}
    env["TASKACTION_ACTIONS_SERVICE_AUTH_CACHE_SECONDS"] = "0"  # every call asks the API server
    service = ServiceProcess(sa_kubeconfig(kube, op_ns, account, tmp_path / "sa.kubeconfig"), env, tmp_path / "service.log")
    original = kube.get("clusterrole", f"{account}-actions-service", "default")
    missing = _action(f"r{uuid.uuid4().hex[:12]}", "nosuch").action_id  # Abort of nothing: NOT_FOUND once authorized

    def with_rules(rules: list[dict[str, Any]]) -> None:
        metadata = {k: v for k, v in original["metadata"].items() if k != "resourceVersion"}  # unconditional
        kube.run("replace", "-f", "-", input=json.dumps({**original, "metadata": metadata, "rules": rules}))

    try:
        async with ActionsServiceClient(f"http://{service.address}", interceptors=[BearerToken(token(kube, op_ns, account))]) as client:

            async def answer() -> ConnectError:
                with pytest.raises(ConnectError) as raised:
                    await client.abort(pb.AbortRequest(action_id=missing))
                return raised.value

            assert (await answer()).code.name == "NOT_FOUND"
            for resource in ("tokenreviews", "subjectaccessreviews"):
                with_rules([rule for rule in original["rules"] if resource not in rule["resources"]])
                refused = await wait_until_async(
                    lambda: _unavailable(answer()), 30, f"still served without {resource} create", interval=0.5
                )
                assert "could not ask the API server who is calling" in refused.message and resource in refused.message, refused
                with_rules(original["rules"])
                await wait_until_async(lambda: _code(answer(), "NOT_FOUND"), 30, f"not served again with {resource} create", interval=0.5)
    finally:
        service.stop()


async def _code(answer: Awaitable[ConnectError], code: str) -> bool:
    return (await answer).code.name == code


async def _unavailable(answer: Awaitable[ConnectError]) -> ConnectError | None:
    refused = await answer
    return refused if refused.code.name == "UNAVAILABLE" else None
