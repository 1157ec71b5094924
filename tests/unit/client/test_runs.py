"""The client library's pure parts: names, labels, inheritance, ownerReferences, phases, trees, signal checks,
inputs/outputs encoding; and create/submit/signal against a recording fake of the API (no cluster)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flyteidl2.common import phase_pb2 as P
from flyteidl2.core import types_pb2
from flyteidl2.task import common_pb2

from taskaction_operator.client import runs
from taskaction_operator.kube import ApiError
from taskaction_operator.client.manifests import container_template
from taskaction_operator.storage import paths

TEMPLATE = container_template("busybox", ["true"])


def cond(type_: str, status: str, reason: str) -> dict[str, str]:
    return {"type": type_, "status": status, "reason": reason, "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ([], P.ACTION_PHASE_UNSPECIFIED),
        ([cond("Progressing", "True", "Queued")], P.ACTION_PHASE_QUEUED),
        ([cond("Progressing", "True", "Initializing")], P.ACTION_PHASE_INITIALIZING),
        ([cond("Progressing", "True", "Executing")], P.ACTION_PHASE_RUNNING),
        ([cond("Progressing", "True", "Paused")], P.ACTION_PHASE_PAUSED),
        ([cond("Progressing", "True", "RetryableFailure")], P.ACTION_PHASE_UNSPECIFIED),
        ([cond("Progressing", "False", "Completed"), cond("Succeeded", "True", "Completed")], P.ACTION_PHASE_SUCCEEDED),
        ([cond("Progressing", "False", "PermanentFailure"), cond("Failed", "True", "PermanentFailure")], P.ACTION_PHASE_FAILED),
        ([cond("Progressing", "False", "Aborted"), cond("Failed", "True", "Aborted")], P.ACTION_PHASE_FAILED),
        ([cond("Progressing", "False", "TimedOut"), cond("Failed", "True", "TimedOut")], P.ACTION_PHASE_TIMED_OUT),
        # list order decides: a Progressing=True left first wins over a later Succeeded
        ([cond("Progressing", "True", "Executing"), cond("Succeeded", "True", "Completed")], P.ACTION_PHASE_RUNNING),
        ([cond("Progressing", "True", "Other"), cond("Succeeded", "True", "Completed")], P.ACTION_PHASE_UNSPECIFIED),
        ([cond("Succeeded", "False", "Completed"), cond("Failed", "True", "X")], P.ACTION_PHASE_FAILED),
        ([cond("Succeeded", "Unknown", "")], P.ACTION_PHASE_UNSPECIFIED),
    ],
)
def test_phase_of_is_get_phase_from_conditions(conditions: list[dict], phase: int) -> None:
    assert runs.phase_of({"status": {"conditions": conditions}}) == phase


def test_phase_of_without_status_and_names() -> None:
    assert runs.phase_of({}) == P.ACTION_PHASE_UNSPECIFIED
    assert runs.phase_of(None) == P.ACTION_PHASE_UNSPECIFIED
    assert runs.phase_name(P.ACTION_PHASE_TIMED_OUT) == "TIMED_OUT"
    assert {p for p in P.ActionPhase.values() if runs.is_terminal(p)} == {
        P.ACTION_PHASE_SUCCEEDED, P.ACTION_PHASE_FAILED, P.ACTION_PHASE_ABORTED, P.ACTION_PHASE_TIMED_OUT, P.ACTION_PHASE_RECOVERED
    }


@pytest.mark.parametrize(
    ("run", "message"),
    [
        ("", "run name is empty"),
        ("r" * 31, "is 31 characters long; at most 30"),
        ("1abc", "not a DNS-1035 label"),
        ("Abc", "not a DNS-1035 label"),
        ("abc-", "not a DNS-1035 label"),
        ("a_b", "not a DNS-1035 label"),
    ],
)
def test_run_names_are_dns_1035_labels_of_at_most_30(run: str, message: str) -> None:
    with pytest.raises(runs.InvalidName, match=message):
        runs.validate_run_name(run)


def test_valid_names_pass() -> None:
    runs.validate_names(run="r" * 30, action="a" * 30, project="p" * 63, domain="development", namespace="flyte", parent="a0")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "a" * 31}, "action name 'a{31}' is 31 characters long"),
        ({"action": "Bad"}, "action name 'Bad' must be lowercase"),
        ({"project": "p" * 64}, "project 'p{64}' is 64 characters long; at most 63"),
        ({"domain": "-dev"}, "domain '-dev' is not a valid label value"),
        ({"project": ""}, "project is empty"),
        ({"namespace": "Flyte"}, "namespace 'Flyte' is not a DNS-1123 label"),
        ({"parent": "x" * 31}, "parent action name"),
    ],
)
def test_invalid_names_say_what_is_wrong(kwargs: dict, message: str) -> None:
    values = {"run": "r1", "action": "a0", "project": "demo", "domain": "development", "namespace": "flyte", **kwargs}
    with pytest.raises(runs.InvalidName, match=message):
        runs.validate_names(**values)


def test_root_body_names_labels_and_uris() -> None:
    body = runs.root_body(
        TEMPLATE, run="hello", namespace="flyte", project="p", domain="d", storage="s3://bucket/",
        labels={"team": "ml", "flyte.org/run": "spoofed"}, annotations={"a": "b"}, env_vars={"K": "V"}, interruptible=True,
    )
    assert body["metadata"]["name"] == "hello-a0"
    assert body["metadata"]["labels"] == {
        "flyte.org/project": "p", "flyte.org/domain": "d", "flyte.org/run": "hello", "flyte.org/action": "a0",
        "flyte.org/action-type": "task", "flyte.org/is-root": "true", "team": "ml",
    }
    assert body["metadata"]["annotations"] == {"a": "b"}
    assert "ownerReferences" not in body["metadata"]
    spec = body["spec"]
    assert (spec["inputUri"], spec["runOutputBase"]) == ("s3://bucket/p/d/hello/inputs", "s3://bucket/p/d/hello/")
    assert spec["envVars"] == {"K": "V"} and spec["interruptible"] is True
    with pytest.raises(runs.InvalidName, match="run name 'Hello'"):
        runs.root_body(TEMPLATE, run="Hello", namespace="flyte", project="p", domain="d")


PARENT = {
    "apiVersion": "flyte.org/v1",
    "kind": "TaskAction",
    "metadata": {
        "name": "hello-a0", "namespace": "flyte", "uid": "u-1",
        "labels": {"flyte.org/action": "a0", "flyte.org/is-root": "true", "team": "ml", "tier": "gold"},
        "annotations": {"owner": "ada", "x": "parent"},
    },
    "spec": {
        "runName": "hello", "project": "p", "domain": "d", "actionName": "a0", "runOutputBase": "s3://b/p/d/hello/",
        "envVars": {"A": "parent", "B": "parent"}, "interruptible": True,
    },
}


def test_child_inherits_without_overwriting_and_is_owned_by_the_parent() -> None:
    body = runs.child_body(
        TEMPLATE, PARENT, action="train", labels={"tier": "silver"}, annotations={"x": "child"}, env_vars={"A": "child"}
    )
    meta, spec = body["metadata"], body["spec"]
    assert meta["name"] == "hello-train"
    assert meta["ownerReferences"] == [
        {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "name": "hello-a0", "uid": "u-1", "blockOwnerDeletion": True}
    ]
    assert meta["labels"] == {
        "flyte.org/project": "p", "flyte.org/domain": "d", "flyte.org/run": "hello", "flyte.org/action": "train",
        "flyte.org/action-type": "task", "flyte.org/is-root": "false", "tier": "silver", "team": "ml",
    }
    assert meta["annotations"] == {"x": "child", "owner": "ada"}
    assert spec["envVars"] == {"A": "child", "B": "parent"}
    assert spec["interruptible"] is True
    assert spec["parentActionName"] == "a0"
    assert (spec["inputUri"], spec["runOutputBase"]) == ("s3://b/p/d/hello/train/inputs.pb", "s3://b/p/d/hello/")
    own = runs.child_body(TEMPLATE, PARENT, action="eval", interruptible=False)
    assert own["spec"]["interruptible"] is False
    with pytest.raises(runs.InvalidName, match="root's name"):
        runs.child_body(TEMPLATE, PARENT, action="a0")


def test_condition_child_inherits_nothing_but_is_owned() -> None:
    body = runs.condition_body(PARENT, action="approve", simple_type=types_pb2.INTEGER, timeout_seconds=30)
    assert body["metadata"]["labels"]["flyte.org/action-type"] == "condition"
    assert "team" not in body["metadata"]["labels"] and "annotations" not in body["metadata"]
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    spec = runs.condition_spec(body)
    assert (spec.type.simple, spec.timeout.seconds, spec.name) == (types_pb2.INTEGER, 30, "approve")
    with pytest.raises(runs.ClientError, match="BOOLEAN, INTEGER, FLOAT or STRING"):
        runs.condition_body(PARENT, action="x", simple_type=types_pb2.DATETIME)


def test_order_for_submit_puts_parents_first() -> None:
    def doc(action: str, parent: str | None) -> dict[str, Any]:
        return {"spec": {"runName": "r", "actionName": action, **({"parentActionName": parent} if parent else {})}}

    ordered = runs.order_for_submit([doc("leaf", "mid"), doc("mid", "a0"), doc("a0", None), doc("other", "elsewhere")])
    names = [d["spec"]["actionName"] for d in ordered]
    assert names.index("a0") < names.index("mid") < names.index("leaf")
    assert "other" in names


def ta(action: str, parent: str | None, conditions: list, created: str = "2026-01-01T00:00:00Z", history: list | None = None) -> dict:
    return {
        "metadata": {"name": f"r-{action}", "namespace": "flyte", "creationTimestamp": created},
        "spec": {"runName": "r", "actionName": action, **({"parentActionName": parent} if parent else {}), "runOutputBase": "s3://b/r/"},
        "status": {"conditions": conditions, "phaseHistory": history or []},
    }


RUNNING = [cond("Progressing", "True", "Executing")]
DONE = [cond("Progressing", "False", "Completed"), cond("Succeeded", "True", "Completed")]


def test_run_tree_links_walks_and_applies_events() -> None:
    tree = runs.RunTree.from_objects(
        "r", "flyte",
        [ta("b", "a0", RUNNING, "2026-01-01T00:00:02Z"), ta("a0", None, RUNNING), ta("a", "a0", RUNNING, "2026-01-01T00:00:01Z"), ta("c", "a", RUNNING)],
    )
    assert [(d, n.action) for d, n in tree.walk()] == [(0, "a0"), (1, "a"), (2, "c"), (1, "b")]
    assert tree.phase == P.ACTION_PHASE_RUNNING
    tree.apply("MODIFIED", ta("a0", None, DONE, history=[{"phase": "Completed", "occurredAt": "2026-01-01T00:01:05Z"}]))
    assert tree.phase == P.ACTION_PHASE_SUCCEEDED
    assert tree.nodes["a0"].duration().total_seconds() == 65
    tree.apply("DELETED", ta("c", "a", RUNNING))
    assert "c" not in tree.nodes and tree.nodes["a"].children == []


def test_deleting_a_running_root_is_aborted() -> None:
    tree = runs.RunTree.from_objects("r", "flyte", [ta("a0", None, RUNNING)])
    tree.apply("DELETED", ta("a0", None, RUNNING))
    assert tree.phase == P.ACTION_PHASE_ABORTED


def test_output_uri_is_the_sharded_prefix_of_the_current_attempt() -> None:
    obj = ta("a0", None, RUNNING)
    assert runs.output_uri(obj) == paths.action_output_prefix("flyte", "r-a0", "s3://b/r/", "a0", 1)
    obj["status"]["attempts"] = 3
    assert runs.output_uri(obj).endswith("/r/a0/3")


def signalled(value: Any = None, conditions: list | None = None, simple: int = types_pb2.BOOLEAN, by: str = "alice") -> dict:
    body = runs.condition_body(PARENT, action="approve", simple_type=simple)
    body["status"] = {"conditions": conditions or [cond("Progressing", "True", "Paused")]}
    if value is not None:
        body["status"]["signalValue"] = base64.b64encode(runs.to_literal(value).SerializeToString(deterministic=True)).decode()
        body["status"]["signalledBy"] = by
    return body


def test_signal_checks() -> None:
    assert runs.check_signal(signalled(), runs.to_literal(True)) is False
    assert runs.check_signal(signalled(True), runs.to_literal(True)) is True  # idempotent
    with pytest.raises(runs.SignalRefused, match="already signalled with True by alice"):
        runs.check_signal(signalled(True), runs.to_literal(False))
    with pytest.raises(runs.SignalRefused, match="already SUCCEEDED"):
        runs.check_signal(signalled(conditions=DONE), runs.to_literal(True))
    with pytest.raises(runs.SignalRefused, match="already TIMED_OUT"):
        runs.check_signal(signalled(conditions=[cond("Failed", "True", "TimedOut")]), runs.to_literal(True))
    with pytest.raises(runs.SignalRefused, match="expects a INTEGER, not a string"):
        runs.check_signal(signalled(simple=types_pb2.INTEGER), runs.to_literal("5"))
    with pytest.raises(runs.SignalRefused, match="not a condition action"):
        runs.check_signal(PARENT, runs.to_literal(True))
    with pytest.raises(runs.SignalRefused, match="primitive literal"):
        runs.check_signal(signalled(), runs.literals_pb2.Literal())


@pytest.mark.parametrize(
    ("text", "simple", "value"),
    [("true", types_pb2.BOOLEAN, True), ("No", types_pb2.BOOLEAN, False), ("42", types_pb2.INTEGER, 42),
     ("2.5", types_pb2.FLOAT, 2.5), ("yes please", types_pb2.STRING, "yes please")],
)
def test_parse_signal_value_by_declared_type(text: str, simple: int, value: Any) -> None:
    assert runs.from_literal(runs.parse_signal_value(text, simple)) == value


def test_parse_signal_value_refuses_what_does_not_fit() -> None:
    with pytest.raises(runs.SignalRefused, match="not a boolean"):
        runs.parse_signal_value("maybe", types_pb2.BOOLEAN)
    with pytest.raises(runs.SignalRefused, match="not an integer"):
        runs.parse_signal_value("4.2", types_pb2.INTEGER)


def test_literals_round_trip() -> None:
    message = runs.inputs_message(n=5, x=2.5, who="ada", ok=True)
    assert [n.value.scalar.primitive.WhichOneof("value") for n in message.literals] == ["integer", "float_value", "string_value", "boolean"]
    outputs = common_pb2.Outputs(literals=list(message.literals))
    assert runs.outputs_to_dict(outputs.SerializeToString()) == {"n": 5, "x": 2.5, "who": "ada", "ok": True}
    assert runs.outputs_to_dict(b"") == {}
    with pytest.raises(runs.ClientError, match="not list"):
        runs.to_literal([1])


async def test_write_inputs_and_read_outputs_on_local_files(tmp_path) -> None:
    from taskaction_operator.settings import Settings
    from taskaction_operator.storage.filesystems import close_filesystems

    try:
        path = await runs.write_inputs(f"file://{tmp_path}/run/inputs", settings=Settings(), a=1)
        assert path == f"file://{tmp_path}/run/inputs/inputs.pb"
        assert [n.name for n in common_pb2.Inputs.FromString((tmp_path / "run/inputs/inputs.pb").read_bytes()).literals] == ["a"]
        (tmp_path / "out").mkdir()
        (tmp_path / "out/outputs.pb").write_bytes(common_pb2.Outputs(literals=list(runs.inputs_message(o="k").literals)).SerializeToString())
        assert await runs.read_outputs(f"file://{tmp_path}/out", settings=Settings()) == {"o": "k"}
        with pytest.raises(runs.NotFound):
            await runs.read_outputs(f"file://{tmp_path}/none", settings=Settings())
    finally:
        await close_filesystems()


class FakeApi:
    """Records calls; holds TaskActions by name."""

    def __init__(self, *objects: dict[str, Any]):
        self.objects = {o["metadata"]["name"]: o for o in objects}
        self.calls: list[tuple[str, Any]] = []
        self.conflicts = 0

    async def ensure_namespace(self, namespace: str) -> bool:
        self.calls.append(("namespace", namespace))
        return False

    async def get_taskaction(self, namespace: str, name: str) -> dict | None:
        return self.objects.get(name)

    async def create_taskaction(self, namespace: str, body: dict) -> dict:
        if body["metadata"]["name"] in self.objects:
            raise ApiError(409, "AlreadyExists", "exists")
        self.calls.append(("create", body))
        body = {**body, "metadata": {"uid": f"uid-{len(self.objects)}", **body["metadata"]}}
        self.objects[body["metadata"]["name"]] = body
        return body

    async def patch_taskaction_status(self, namespace: str, name: str, patch: dict) -> dict:
        if self.conflicts:
            self.conflicts -= 1
            raise ApiError(409, "Conflict", "the object has been modified")
        self.calls.append(("status", patch))
        self.objects[name]["status"].update(patch["status"])
        return self.objects[name]


async def test_create_child_needs_its_parent_and_validates_first() -> None:
    api = FakeApi()
    with pytest.raises(runs.NotFound, match="parent TaskAction flyte/hello-a0 .* does not exist"):
        await runs.create_child(api, TEMPLATE, run="hello", action="train")
    with pytest.raises(runs.InvalidName):
        await runs.create_child(api, TEMPLATE, run="hello", action="x" * 31)
    assert api.calls == []
    api = FakeApi(PARENT)
    created = await runs.create_child(api, TEMPLATE, run="hello", action="train")
    assert created["metadata"]["ownerReferences"][0]["name"] == "hello-a0"
    with pytest.raises(runs.ClientError, match="flyte/hello-train already exists"):
        await runs.create_child(api, TEMPLATE, run="hello", action="train")


async def test_submit_of_a_manifest_adds_labels_inheritance_and_owner() -> None:
    api = FakeApi(PARENT)
    body = {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "metadata": {},
            "spec": {"runName": "hello", "project": "p", "domain": "d", "actionName": "eval", "parentActionName": "a0"}}
    created = await runs.submit(api, body, namespace="flyte")
    assert api.calls[0] == ("namespace", "flyte")
    assert created["metadata"]["name"] == "hello-eval"
    assert created["metadata"]["labels"]["team"] == "ml" and created["metadata"]["labels"]["flyte.org/is-root"] == "false"
    assert created["spec"]["envVars"] == {"A": "parent", "B": "parent"}
    assert len(created["metadata"]["ownerReferences"]) == 1
    with pytest.raises(runs.InvalidName, match="should be 'hello-x'"):
        await runs.submit(api, {**body, "metadata": {"name": "wrong"}, "spec": {**body["spec"], "actionName": "x"}})
    with pytest.raises(runs.ClientError, match="spec.project is missing"):
        await runs.submit(api, {"metadata": {}, "spec": {"runName": "r", "actionName": "a0", "domain": "d"}})


async def test_signal_writes_the_status_and_retries_conflicts() -> None:
    cond_ta = signalled()
    cond_ta["metadata"]["resourceVersion"] = "7"
    api = FakeApi(cond_ta)
    api.conflicts = 1
    await runs.signal(api, "hello-approve", True, "alice", "flyte")
    kind, patch = api.calls[-1]
    assert kind == "status" and patch["metadata"] == {"resourceVersion": "7"}
    assert patch["status"]["signalledBy"] == "alice" and patch["status"]["signalledAt"].endswith("Z")
    assert runs.from_literal(runs.literals_pb2.Literal.FromString(base64.b64decode(patch["status"]["signalValue"]))) is True
    await runs.signal(api, "hello-approve", True, "bob", "flyte")  # the same value again: nothing written
    assert len([c for c in api.calls if c[0] == "status"]) == 1
    with pytest.raises(runs.SignalRefused, match="already signalled"):
        await runs.signal(api, "hello-approve", False, "bob", "flyte")
    with pytest.raises(runs.NotFound):
        await runs.signal(api, "nope", True, "bob", "flyte")
