"""The actions service inside the operator process, called with flyteidl2's own Connect client (the one the Flyte SDK's
in-task controller uses) against the real control plane: Enqueue, WatchForUpdates, Abort, Signal, traces, errors; and
who may call it: ServiceAccount tokens checked by the real API server's TokenReview and SubjectAccessReview, task pods
only inside their own run, the token of a deleted pod refused."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import pytest
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from flyteidl2.actions import actions_service_pb2 as pb
from flyteidl2.actions.actions_service_connect import ActionsServiceClient
from flyteidl2.common import identifier_pb2, identity_pb2
from flyteidl2.common import phase_pb2 as P
from flyteidl2.core import literals_pb2, types_pb2
from flyteidl2.task import common_pb2, task_definition_pb2
from flyteidl2.workflow import run_definition_pb2, state_service_pb2

from taskaction_operator.actions.server import ActionsServer
from taskaction_operator.api.times import rfc3339, utcnow
from taskaction_operator.client import action_io, action_phase, runs
from taskaction_operator.kube import KubeApi, connect
from taskaction_operator.client.manifests import container_template
from taskaction_operator.settings import Settings
from tests.support.kube import Kube
from tests.support.operator_process import OperatorProcess, running_operator, wait_for_port
from tests.support.ports import free_ports
from tests.support.tokens import BearerToken, service_account, token
from tests.support.waiting import wait_until_async

TEMPLATE = container_template("busybox", ["echo", "hi"], name="mod.step")
OUTCOME = "sim.taskaction.dev/outcome"
DELAY = "sim.taskaction.dev/delay"
UPDATE_TIMEOUT = 60.0
AUTH_CACHE_SECONDS = 1
# The API server keeps a token's successful review for 10 s (its token cache), the service for AUTH_CACHE_SECONDS.
REPLAY_REFUSED_WITHIN = 10 + AUTH_CACHE_SECONDS + 20
PEOPLES_VERBS = ("create", "delete", "patch", "watch")  # Enqueue, Abort, Signal, WatchForUpdates


@pytest.fixture(scope="module")
def service_address() -> str:
    return f"127.0.0.1:{free_ports(1)[0]}"


@pytest.fixture(scope="module")
def operator(
    kube: Kube, crd: None, namespace: str, storage_env: dict[str, str], service_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    env = {
        **storage_env,
        "TASKACTION_ACTIONS_SERVICE_ADDRESS": service_address,
        "TASKACTION_ACTIONS_SERVICE_NAMESPACE": namespace,
        "TASKACTION_ACTIONS_SERVICE_AUTH_CACHE_SECONDS": str(AUTH_CACHE_SECONDS),
    }
    with running_operator(kube, namespace, tmp_path_factory.mktemp("operator") / "operator.log", env) as process:
        wait_for_port(service_address, process)
        yield process


@pytest.fixture(scope="module")
def caller_token(kube: Kube, namespace: str) -> str:
    """A controller's token: its ServiceAccount may do on TaskActions what every RPC needs."""
    return token(kube, namespace, service_account(kube, namespace, "flyte-caller", PEOPLES_VERBS))


@pytest.fixture
async def client(operator: OperatorProcess, service_address: str, caller_token: str) -> AsyncIterator[ActionsServiceClient]:
    async with ActionsServiceClient(f"http://{service_address}", interceptors=[BearerToken(caller_token)]) as service:
        yield service


@pytest.fixture
async def api(kube: Kube, crd: None) -> AsyncIterator[KubeApi]:
    kube_client = await connect(kube.kubeconfig)
    yield kube_client
    await kube_client.close()


def run_id(run: str) -> identifier_pb2.RunIdentifier:
    return identifier_pb2.RunIdentifier(org="local", project="demo", domain="development", name=run)


def action_id(run: str, name: str) -> identifier_pb2.ActionIdentifier:
    return identifier_pb2.ActionIdentifier(run=run_id(run), name=name)


def child_action(run: str, name: str, parent: str = "a0") -> pb.Action:
    return pb.Action(
        action_id=action_id(run, name),
        parent_action_name=parent,
        input_uri=f"s3://flyte-data/demo/development/{run}/{name}/inputs.pb",
        run_output_base=f"s3://flyte-data/demo/development/{run}/",
        task=run_definition_pb2.TaskAction(spec=task_definition_pb2.TaskSpec(task_template=TEMPLATE, short_name="step")),
    )


class Watch:
    """A parent's WatchForUpdates stream, read in the background like the SDK's informer."""

    def __init__(self, client: ActionsServiceClient, run: str, parent: str = "a0"):
        self.responses: list[pb.WatchForUpdatesResponse] = []
        self._task = asyncio.create_task(self._read(client, run, parent))

    async def _read(self, client: ActionsServiceClient, run: str, parent: str) -> None:
        async for response in client.watch_for_updates(pb.WatchForUpdatesRequest(parent_action_id=action_id(run, parent))):
            self.responses.append(response)

    async def sentinel(self) -> int:
        """Where the control message came: after the snapshot, before any change."""
        await wait_until_async(lambda: any(r.HasField("control_message") for r in self.responses), UPDATE_TIMEOUT, "no sentinel", interval=0.1)
        index = next(i for i, r in enumerate(self.responses) if r.HasField("control_message"))
        assert self.responses[index].control_message.sentinel
        return index

    @property
    def updates(self) -> list[state_service_pb2.ActionUpdate]:
        return [r.action_update for r in self.responses if r.HasField("action_update")]

    async def until(self, predicate, what: str) -> state_service_pb2.ActionUpdate:

        def first_match() -> state_service_pb2.ActionUpdate | None:
            found = next((update for update in self.updates if predicate(update)), None)
            if found is None and self._task.done():
                self._task.result()
                pytest.fail(f"the watch ended before {what}")
            return found

        return await wait_until_async(
            first_match, UPDATE_TIMEOUT, lambda: f"no update {what}; got {[(u.action_id.name, P.ActionPhase.Name(u.phase)) for u in self.updates]}", interval=0.1
        )

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, ConnectError):
            pass


def new_run() -> str:
    return f"r{uuid.uuid4().hex[:12]}"


async def test_enqueued_child_is_owned_by_its_parent_and_its_phases_reach_the_watch(
    client: ActionsServiceClient, api: KubeApi, kube: Kube, namespace: str
) -> None:
    run = new_run()
    # The child inherits the root's labels and annotations, so both pods run until the same moment, then succeed: the
    # root is still running when its child is enqueued. (Patching the root's label instead would race the service's
    # watch, from which Enqueue reads the parent.)
    until = rfc3339(utcnow() + timedelta(seconds=15))
    root = await runs.create_run(
        api, TEMPLATE, run=run, namespace=namespace, labels={OUTCOME: "succeed"}, annotations={DELAY: until}, env_vars={"FROM_RUN": "1"}
    )
    watch = Watch(client, run)
    try:
        assert await watch.sentinel() == 1
        assert watch.responses[0].action_update.action_id.name == "a0"  # the snapshot: the parent itself

        await client.enqueue(pb.EnqueueRequest(action=child_action(run, "n1")))
        child = kube.get("taskaction", f"{run}-n1", namespace)
        assert child["metadata"]["ownerReferences"] == [
            {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": f"{run}-a0", "uid": root["metadata"]["uid"], "blockOwnerDeletion": True}
        ]
        assert child["metadata"]["labels"]["flyte.org/is-root"] == "false" and child["metadata"]["labels"][OUTCOME] == "succeed"
        assert child["metadata"]["annotations"][DELAY] == until
        assert child["spec"]["envVars"] == {"FROM_RUN": "1"} and child["spec"]["parentActionName"] == "a0"
        assert child["spec"]["inputUri"] == f"s3://flyte-data/demo/development/{run}/n1/inputs.pb"

        done = await watch.until(lambda u: u.action_id.name == "n1" and u.phase == P.ACTION_PHASE_SUCCEEDED, "n1 SUCCEEDED")
        finished = kube.get("taskaction", f"{run}-n1", namespace)
        assert done.output_uri == action_io.output_uri(finished)
        assert done.action_id.run.name == run and done.action_id.run.project == "demo"
        seen = [u.phase for u in watch.updates if u.action_id.name == "n1"]
        assert seen == sorted(seen) and len(seen) == len(set(seen)), f"phases out of order or repeated: {seen}"

        with pytest.raises(ConnectError) as again:
            await client.enqueue(pb.EnqueueRequest(action=child_action(run, "n1")))
        assert again.value.code == Code.ALREADY_EXISTS
    finally:
        await watch.close()


async def test_failed_child_carries_its_error(client: ActionsServiceClient, api: KubeApi, kube: Kube, namespace: str) -> None:
    run = new_run()
    await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels={OUTCOME: "fail"}, annotations={"sim.taskaction.dev/exit-code": "3"})
    watch = Watch(client, run)
    try:
        await client.enqueue(pb.EnqueueRequest(action=child_action(run, "bad")))
        failed = await watch.until(lambda u: u.action_id.name == "bad" and u.phase == P.ACTION_PHASE_FAILED, "bad FAILED")
        error_state = kube.get("taskaction", f"{run}-bad", namespace)["status"]["errorState"]
        assert failed.error.code == error_state["code"] and failed.error.message == error_state["message"]
        assert failed.error.kind == {"USER": 1, "SYSTEM": 2}[error_state["kind"]]
    finally:
        await watch.close()


async def test_abort_deletes_the_child_and_the_watch_says_aborted(client: ActionsServiceClient, api: KubeApi, kube: Kube, namespace: str) -> None:
    run = new_run()
    await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels={OUTCOME: "running"})
    watch = Watch(client, run)
    try:
        await client.enqueue(pb.EnqueueRequest(action=child_action(run, "long")))
        await watch.until(lambda u: u.action_id.name == "long" and u.phase == P.ACTION_PHASE_RUNNING, "long RUNNING")
        await client.abort(pb.AbortRequest(action_id=action_id(run, "long"), reason="user cancelled"))
        await watch.until(lambda u: u.action_id.name == "long" and u.phase == P.ACTION_PHASE_ABORTED, "long ABORTED")
        kube.wait("taskaction", f"{run}-long", namespace, lambda o: o is None, "gone")
        with pytest.raises(ConnectError) as missing:
            await client.abort(pb.AbortRequest(action_id=action_id(run, "long")))
        assert missing.value.code == Code.NOT_FOUND
    finally:
        await watch.close()


def boolean(value: bool) -> literals_pb2.Literal:
    return literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(boolean=value)))


async def test_condition_signal_and_trace(client: ActionsServiceClient, api: KubeApi, kube: Kube, namespace: str) -> None:
    run = new_run()
    await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels={OUTCOME: "running"})
    watch = Watch(client, run)
    try:
        condition = run_definition_pb2.ConditionAction(name="approve", type=types_pb2.LiteralType(simple=types_pb2.BOOLEAN), prompt="ship it?")
        await client.enqueue(pb.EnqueueRequest(action=pb.Action(action_id=action_id(run, "approve"), parent_action_name="a0", condition=condition)))
        await client.enqueue(pb.EnqueueRequest(action=pb.Action(action_id=action_id(run, "approve"), parent_action_name="a0", condition=condition)))
        await watch.until(lambda u: u.action_id.name == "approve" and u.phase == P.ACTION_PHASE_PAUSED, "approve PAUSED")

        who = identity_pb2.EnrichedIdentity(user=identity_pb2.User(id=identifier_pb2.UserIdentifier(subject="alice")))
        wrong = literals_pb2.Literal(scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=1)))
        with pytest.raises(ConnectError) as refused:
            await client.signal(pb.SignalRequest(action_id=action_id(run, "approve"), parent_action_name="a0", value=wrong, signalled_by=who))
        assert refused.value.code == Code.INVALID_ARGUMENT
        await client.signal(pb.SignalRequest(action_id=action_id(run, "approve"), parent_action_name="a0", value=boolean(True), signalled_by=who))
        signalled = await watch.until(lambda u: u.action_id.name == "approve" and u.phase == P.ACTION_PHASE_SUCCEEDED, "approve SUCCEEDED")
        assert signalled.value == boolean(True)
        assert kube.get("taskaction", f"{run}-approve", namespace)["status"]["signalledBy"] == "alice"
        with pytest.raises(ConnectError) as twice:
            await client.signal(pb.SignalRequest(action_id=action_id(run, "approve"), value=boolean(False), signalled_by=who))
        assert twice.value.code == Code.FAILED_PRECONDITION

        trace = run_definition_pb2.TraceAction(name="lookup", phase=P.ACTION_PHASE_SUCCEEDED, outputs=common_pb2.OutputReferences(output_uri="s3://flyte-data/t/lookup"))
        await client.enqueue(pb.EnqueueRequest(action=pb.Action(action_id=action_id(run, "lookup"), parent_action_name="a0", trace=trace)))
        traced = await watch.until(lambda u: u.action_id.name == "lookup", "the trace")
        assert traced.phase == P.ACTION_PHASE_SUCCEEDED and traced.output_uri == "s3://flyte-data/t/lookup"
        assert kube.get("taskaction", f"{run}-lookup", namespace) is None
    finally:
        await watch.close()

    # A parent that watches again gets the whole picture in its snapshot, the trace included.
    again = Watch(client, run)
    try:
        await again.until(lambda u: u.action_id.name == "lookup", "the trace in a new snapshot")
        await again.until(lambda u: u.action_id.name == "approve" and u.phase == P.ACTION_PHASE_SUCCEEDED, "approve in a new snapshot")
    finally:
        await again.close()


async def test_refusals_name_the_problem(client: ActionsServiceClient, api: KubeApi, namespace: str) -> None:
    run = new_run()
    with pytest.raises(ConnectError) as orphan:
        await client.enqueue(pb.EnqueueRequest(action=child_action(run, "n1")))
    assert orphan.value.code == Code.NOT_FOUND and f"{run}-a0" in orphan.value.message

    bad = child_action(run, "n1")
    bad.run_output_base = ""
    with pytest.raises(ConnectError) as invalid:
        await client.enqueue(pb.EnqueueRequest(action=bad))
    assert invalid.value.code == Code.INVALID_ARGUMENT and "run_output_base" in invalid.value.message

    with pytest.raises(ConnectError) as unimplemented:
        await client.update(pb.UpdateRequest(action_id=action_id(run, "a0"), attempt=1))
    assert unimplemented.value.code == Code.UNIMPLEMENTED


async def test_root_enqueued_through_the_service_runs(client: ActionsServiceClient, kube: Kube, namespace: str) -> None:
    run = new_run()
    root = child_action(run, "a0")
    root.ClearField("parent_action_name")
    root.input_uri = f"s3://flyte-data/demo/development/{run}/inputs"
    await client.enqueue(pb.EnqueueRequest(action=root))
    obj = kube.wait("taskaction", f"{run}-a0", namespace, lambda o: o is not None and action_phase.phase_of(o) == P.ACTION_PHASE_SUCCEEDED, "Succeeded", timeout=60)
    assert obj["metadata"]["labels"]["flyte.org/is-root"] == "true" and "ownerReferences" not in obj["metadata"]
    assert base64.b64decode(obj["spec"]["taskTemplate"]) == TEMPLATE.SerializeToString()


async def test_grpc_over_cleartext_http2(operator: OperatorProcess, service_address: str, caller_token: str, api: KubeApi, namespace: str) -> None:
    """Go clients speak gRPC (HTTP/2 without TLS): the same port serves them."""
    import pyqwest
    from connectrpc.protocol import ProtocolType

    run = new_run()
    await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels={OUTCOME: "running"})
    http2 = pyqwest.Client(pyqwest.HTTPTransport(http_version=pyqwest.HTTPVersion.HTTP2))
    grpc_client = ActionsServiceClient(f"http://{service_address}", protocol=ProtocolType.GRPC, http_client=http2, interceptors=[BearerToken(caller_token)])
    async with grpc_client as grpc:
        await grpc.enqueue(pb.EnqueueRequest(action=child_action(run, "viagrpc")))
        seen, sentinel = set(), False

        async def read() -> None:
            nonlocal sentinel
            async for response in grpc.watch_for_updates(pb.WatchForUpdatesRequest(parent_action_id=action_id(run, "a0"))):
                sentinel = sentinel or response.control_message.sentinel
                if response.HasField("action_update"):
                    seen.add(response.action_update.action_id.name)
                if sentinel and seen == {"a0", "viagrpc"}:
                    return

        await asyncio.wait_for(read(), UPDATE_TIMEOUT)
        with pytest.raises(ConnectError) as missing:
            await grpc.abort(pb.AbortRequest(action_id=action_id(run, "nosuch")))
        assert missing.value.code == Code.NOT_FOUND


# Who may call.


async def refusal(call: Awaitable[Any]) -> ConnectError:
    with pytest.raises(ConnectError) as refused:
        await call
    return refused.value


async def first_watch_message(client: ActionsServiceClient, run: str) -> pb.WatchForUpdatesResponse:
    async for response in client.watch_for_updates(pb.WatchForUpdatesRequest(parent_action_id=action_id(run, "a0"))):
        return response
    raise AssertionError("the watch ended without a message")


async def running_root(api: KubeApi, kube: Kube, namespace: str) -> tuple[str, dict]:
    """A run whose root's pod kwok keeps Running: the run's name and that pod."""
    run = new_run()
    await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels={OUTCOME: "running"})
    pods = await wait_until_async(lambda: kube.list("pods", namespace, f"run={run}"), UPDATE_TIMEOUT, f"no pod of run {run}")
    return run, pods[0]


async def test_an_anonymous_or_forged_caller_is_unauthenticated(operator: OperatorProcess, service_address: str, api: KubeApi, namespace: str) -> None:
    run = new_run()
    await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels={OUTCOME: "running"})
    async with ActionsServiceClient(f"http://{service_address}") as anonymous:
        for call in (
            anonymous.enqueue(pb.EnqueueRequest(action=child_action(run, "n1"))),
            anonymous.abort(pb.AbortRequest(action_id=action_id(run, "a0"))),
            first_watch_message(anonymous, run),
        ):
            refused = await refusal(call)
            assert refused.code == Code.UNAUTHENTICATED and "Authorization: Bearer" in refused.message, refused
    async with ActionsServiceClient(f"http://{service_address}", interceptors=[BearerToken("not-a-token")]) as forged:
        refused = await refusal(forged.enqueue(pb.EnqueueRequest(action=child_action(run, "n1"))))
        assert refused.code == Code.UNAUTHENTICATED and "not accepted for audience 'taskaction-actions'" in refused.message
    assert await api.get_taskaction(namespace, f"{run}-n1") is None
    assert await api.get_taskaction(namespace, f"{run}-a0") is not None


async def test_another_serviceaccount_needs_rbac_and_the_services_audience(
    operator: OperatorProcess, service_address: str, api: KubeApi, kube: Kube, namespace: str, caller_token: str
) -> None:
    run = new_run()
    await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels={OUTCOME: "running"})
    stranger = token(kube, namespace, service_account(kube, namespace, "stranger"))
    async with ActionsServiceClient(f"http://{service_address}", interceptors=[BearerToken(stranger)]) as client:
        refused = await refusal(client.enqueue(pb.EnqueueRequest(action=child_action(run, "n1"))))
        assert refused.code == Code.PERMISSION_DENIED, refused
        assert f"system:serviceaccount:{namespace}:stranger may not create taskactions.flyte.org in namespace {namespace}, which Enqueue needs" in refused.message
        refused = await refusal(client.abort(pb.AbortRequest(action_id=action_id(run, "a0"))))
        assert refused.code == Code.PERMISSION_DENIED and "may not delete" in refused.message
    elsewhere = token(kube, namespace, "flyte-caller", audience="some-other-service")  # caller_token's RBAC, not our audience
    async with ActionsServiceClient(f"http://{service_address}", interceptors=[BearerToken(elsewhere)]) as client:
        refused = await refusal(client.abort(pb.AbortRequest(action_id=action_id(run, "a0"))))
        assert refused.code == Code.UNAUTHENTICATED and "some-other-service" in refused.message, refused
    assert await api.get_taskaction(namespace, f"{run}-a0") is not None


async def test_a_task_pod_acts_only_inside_its_own_run(
    operator: OperatorProcess, service_address: str, api: KubeApi, kube: Kube, namespace: str
) -> None:
    """The token of run A's root pod (its ServiceAccount, `default`, has no RBAC at all): children of its own action,
    and anything inside run A; nothing in run B, no children of another action."""
    run_a, pod_a = await running_root(api, kube, namespace)
    run_b = new_run()
    await runs.create_run(api, TEMPLATE, run=run_b, namespace=namespace, labels={OUTCOME: "running"})
    pod_token = token(kube, namespace, pod_a["spec"].get("serviceAccountName") or "default", pod=pod_a)
    async with ActionsServiceClient(f"http://{service_address}", interceptors=[BearerToken(pod_token)]) as pod:
        await pod.enqueue(pb.EnqueueRequest(action=child_action(run_a, "n1")))
        assert (await first_watch_message(pod, run_a)).action_update.action_id.name == "a0"

        into_b = await refusal(pod.enqueue(pb.EnqueueRequest(action=child_action(run_b, "n1"))))
        assert into_b.code == Code.PERMISSION_DENIED, into_b
        assert f"may only act inside its own run, not in run {run_b} of demo/development" in into_b.message
        grandchild = await refusal(pod.enqueue(pb.EnqueueRequest(action=child_action(run_a, "n2", parent="n1"))))
        assert grandchild.code == Code.PERMISSION_DENIED and "only enqueue children of its own action a0, not of action n1" in grandchild.message
        abort_b = await refusal(pod.abort(pb.AbortRequest(action_id=action_id(run_b, "a0"))))
        assert abort_b.code == Code.PERMISSION_DENIED, abort_b
        watch_b = await refusal(first_watch_message(pod, run_b))
        assert watch_b.code == Code.PERMISSION_DENIED, watch_b
    assert await api.get_taskaction(namespace, f"{run_a}-n1") is not None
    assert await api.get_taskaction(namespace, f"{run_b}-n1") is None and await api.get_taskaction(namespace, f"{run_b}-a0") is not None


async def test_the_token_of_a_deleted_pod_is_refused(
    operator: OperatorProcess, service_address: str, api: KubeApi, kube: Kube, namespace: str
) -> None:
    run, pod = await running_root(api, kube, namespace)
    replayed = token(kube, namespace, pod["spec"].get("serviceAccountName") or "default", pod=pod)
    async with ActionsServiceClient(f"http://{service_address}", interceptors=[BearerToken(replayed)]) as client:
        # Abort of an action that does not exist: NOT_FOUND while the token is good, and no side effect either way.
        missing = await refusal(client.abort(pb.AbortRequest(action_id=action_id(run, "nosuch"))))
        assert missing.code == Code.NOT_FOUND, missing
        kube.run("delete", "pod", pod["metadata"]["name"], "-n", namespace, "--grace-period=0", "--force")
        kube.wait("pod", pod["metadata"]["name"], namespace, lambda p: p is None or p["metadata"]["uid"] != pod["metadata"]["uid"], "gone")

        async def refused_now() -> ConnectError | None:
            answer = await refusal(client.abort(pb.AbortRequest(action_id=action_id(run, "nosuch"))))
            return answer if answer.code == Code.UNAUTHENTICATED else None

        refused = await wait_until_async(refused_now, REPLAY_REFUSED_WITHIN, "the deleted pod's token is still accepted", interval=0.5)
        assert "taskaction-actions" in refused.message or "no longer exists" in refused.message, refused


def certificate(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate it signed for 127.0.0.1 with its key (PEM: ca.crt, tls.crt, tls.key), what a
    kubernetes.io/tls Secret from cert-manager holds."""
    ca_key, ca, key, request, cert = (directory / n for n in ("ca.key", "ca.crt", "tls.key", "tls.csr", "tls.crt"))
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for argv in (
        ["req", "-x509", *ec, "-days", "1", "-subj", "/CN=test-ca", "-keyout", str(ca_key), "-out", str(ca)],
        ["req", "-new", *ec, "-subj", "/CN=taskaction-actions", "-keyout", str(key), "-out", str(request)],
        ["x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-days", "1", "-out", str(cert),
         "-extfile", "/dev/stdin"],
    ):  # fmt: skip
        extensions = "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" if argv[0] == "x509" else None
        subprocess.run(["openssl", *argv], input=extensions, text=True, check=True, capture_output=True)
    return ca, cert, key


async def test_tls_with_a_certificate_from_files(api: KubeApi, namespace: str, caller_token: str, tmp_path: Path) -> None:
    """TASKACTION_ACTIONS_SERVICE_TLS_*: Connect (HTTP/1.1) and gRPC (HTTP/2, by ALPN) over TLS on one port, tokens
    still checked; a cleartext client gets nothing."""
    import pyqwest
    from connectrpc.protocol import ProtocolType

    ca, cert, key = certificate(tmp_path)
    settings = Settings(actions_service_namespace=namespace, actions_service_tls_cert_file=str(cert), actions_service_tls_key_file=str(key))
    server = ActionsServer(api, settings, "127.0.0.1:0")
    await server.start()
    try:
        (address,) = server.addresses
        run = new_run()
        await runs.create_run(api, TEMPLATE, run=run, namespace=namespace, labels={OUTCOME: "running"})
        await wait_until_async(server.hub.ready.is_set, UPDATE_TIMEOUT, "the service's watch is not up")
        for name, protocol, version in (("tls1", ProtocolType.CONNECT, pyqwest.HTTPVersion.HTTP1), ("tls2", ProtocolType.GRPC, pyqwest.HTTPVersion.HTTP2)):
            https = pyqwest.Client(pyqwest.HTTPTransport(tls_ca_cert=ca.read_bytes(), http_version=version))
            async with ActionsServiceClient(f"https://{address}", protocol=protocol, http_client=https, interceptors=[BearerToken(caller_token)]) as client:
                await client.enqueue(pb.EnqueueRequest(action=child_action(run, name)))
            async with ActionsServiceClient(f"https://{address}", protocol=protocol, http_client=https) as anonymous:
                refused = await refusal(anonymous.enqueue(pb.EnqueueRequest(action=child_action(run, f"{name}x"))))
                assert refused.code == Code.UNAUTHENTICATED, refused
        async with ActionsServiceClient(f"http://{address}", interceptors=[BearerToken(caller_token)]) as cleartext:
            refused = await refusal(cleartext.enqueue(pb.EnqueueRequest(action=child_action(run, "plain"))))
            assert refused.code == Code.UNAVAILABLE, refused  # no TLS handshake, no answer
        assert [await api.get_taskaction(namespace, f"{run}-{name}") is not None for name in ("tls1", "tls2", "plain")] == [True, True, False]
    finally:
        await server.stop()
