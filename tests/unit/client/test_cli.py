"""The `taskaction` CLI without a cluster: argument parsing, rendering of recorded TaskActions, and the commands
against a recording fake of the API."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import pytest
import yaml
from flyteidl2.core import types_pb2

from taskaction_operator.api.decoding import decode_task_template
from taskaction_operator.client import cli, errors, manifests, trees
from taskaction_operator.kube import ApiError

from .builders import DONE, PARENT, RUNNING, FakeApi, cond, signalled, ta

NOW = dt.datetime(2026, 1, 1, 0, 2, 0, tzinfo=dt.timezone.utc)
FAILED = [cond("Progressing", "False", "PermanentFailure"), cond("Failed", "True", "PermanentFailure")]


def recorded_run() -> list[dict[str, Any]]:
    """TaskActions as the operator leaves them: a root that succeeded, one child that failed, one still running."""
    root = ta("a0", None, DONE, history=[{"phase": "Queued", "occurredAt": "2026-01-01T00:00:00Z"}, {"phase": "Completed", "occurredAt": "2026-01-01T00:01:30Z"}])
    failed = ta("prepare", "a0", FAILED, "2026-01-01T00:00:05Z", history=[{"phase": "PermanentFailure", "occurredAt": "2026-01-01T00:00:12Z"}])
    failed["status"]["errorState"] = {"code": "OOMKilled", "kind": "USER", "message": "out of memory"}
    running = ta("train", "prepare", RUNNING, "2026-01-01T00:00:10Z")
    return [running, root, failed]


def test_parse_submit_container_task() -> None:
    args = cli.parse(["submit", "-n", "ns", "--image", "busybox", "--run", "r1", "--env", "A=1", "--label", "k=v", "--", "echo", "-n", "hi"])
    assert (args.namespace, args.image, args.run, args.cmd, args.env, args.label) == ("ns", "busybox", "r1", ["echo", "-n", "hi"], {"A": "1"}, {"k": "v"})
    assert args.action == "a0" and args.parent is None and args.output == "human"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["submit"], "either -f FILE or --image"),
        (["submit", "-f", "x.yaml", "--image", "i"], "either -f FILE or --image"),
        (["submit", "--image", "i", "--action", "c1", "--", "true"], "a child action (--action, --parent) needs --run NAME"),
        (["submit", "-f", "x.yaml", "--command"], "--command goes with --image"),
        (["submit", "--image", "i", "--run", "r"], "a command after --"),
        (["submit", "--image", "i", "--run", "r", "--env", "novalue", "--", "true"], "--env 'novalue' is not KEY=VALUE"),
        (["tree"], "required: run"),
        (["get", "-o", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_parse_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.parse(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_parse_submit_sdk_task_file(tmp_path) -> None:
    tasks = tmp_path / "pipeline.py"
    tasks.write_text("")
    args = cli.parse(
        ["submit", "-f", str(tasks), "--task", "pipeline", "-i", "x=5", "--input", "q=a=b", "--run", "r1", "--storage", "s3://b",
         "--project", "p", "--domain", "d", "--label", "k=v", "--env", "A=1", "--annotation", "n=m", "-o", "json"]
    )
    assert (args.filename, args.task, args.input, args.run) == (str(tasks), "pipeline", {"x": "5", "q": "a=b"}, "r1")
    assert (args.storage, args.project, args.domain, args.output) == ("s3://b", "p", "d", "json")
    assert (args.label, args.env, args.annotation, args.copy_style) == ({"k": "v"}, {"A": "1"}, {"n": "m"}, "loaded_modules")
    minimal = cli.parse(["submit", "-f", str(tasks), "--task", "pipeline", "--copy-style", "all"])
    assert (minimal.input, minimal.run, minimal.copy_style) == ({}, None, "all")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["submit", "-f", "{tasks}"], "needs --task NAME"),
        (["submit", "-f", "{tasks}", "--task", "t", "-i", "x"], "--input 'x' is not KEY=VALUE"),
        (["submit", "-f", "{tasks}", "--task", "t", "--parent", "a0"], "--action and --parent do not apply"),
        (["submit", "-f", "{tasks}", "--task", "t", "--action", "train"], "--action and --parent do not apply"),
        (["submit", "-f", "{tasks}", "--task", "t", "--", "echo"], "submit -f takes no command"),
        (["submit", "-f", "{tasks}", "--task", "t", "--copy-style", "none"], "invalid choice: 'none'"),
        (["submit", "-f", "missing.py", "--task", "t"], "missing.py is not a file"),
        (["submit", "-f", "run.yaml", "--task", "t"], "--task and -i/--input go with a Flyte SDK task file"),
        (["submit", "--image", "i", "--run", "r", "-i", "x=1", "--", "true"], "--task and -i/--input go with"),
    ],
)
def test_parse_sdk_submit_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture, tmp_path) -> None:
    tasks = tmp_path / "tasks.py"
    tasks.write_text("")
    with pytest.raises(SystemExit) as exc:
        cli.parse([arg.format(tasks=tasks) for arg in argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_parse_namespace_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKACTION_NAMESPACE", "flyte")
    assert cli.parse(["tree", "r"]).namespace == "flyte"
    assert cli.parse(["tree", "r", "-n", "other"]).namespace == "other"
    assert cli.parse(["logs", "r-a0", "--attempt", "2"]).attempt == 2
    assert cli.parse(["signal", "r-approve", "true", "--by", "ada"]).by == "ada"


def test_render_tree_indents_with_phases_and_durations() -> None:
    tree = trees.RunTree.from_objects("r", "flyte", recorded_run())
    assert cli.render_tree(tree, NOW).splitlines() == [
        "run r (flyte): SUCCEEDED",
        "  a0         SUCCEEDED       1m30s  task      r-a0",
        "    prepare  FAILED           7.0s  task      r-prepare  (out of memory)",
        "      train  RUNNING         1m50s  task      r-train",
    ]


def test_tree_data_for_scripts() -> None:
    data = cli.tree_data(trees.RunTree.from_objects("r", "flyte", recorded_run()))
    assert data["phase"] == "SUCCEEDED"
    assert [(a["action"], a["parent"], a["depth"], a["phase"]) for a in data["actions"]] == [
        ("a0", None, 0, "SUCCEEDED"), ("prepare", "a0", 1, "FAILED"), ("train", "prepare", 2, "RUNNING")
    ]
    assert data["actions"][1]["errorState"]["code"] == "OOMKilled"
    assert data["actions"][0]["durationSeconds"] == 90


def test_render_table() -> None:
    lines = cli.render_table(recorded_run(), NOW).splitlines()
    assert lines[0].split() == ["NAME", "RUN", "ACTION", "PARENT", "TYPE", "PHASE", "AGE"]
    assert lines[1].split() == ["r-a0", "r", "a0", "-", "SUCCEEDED", "2m00s"]
    assert lines[3].split() == ["r-train", "r", "train", "prepare", "RUNNING", "1m50s"]


@pytest.mark.parametrize(("seconds", "text"), [(3.25, "3.2s"), (42, "42s"), (125, "2m05s"), (3725, "1h02m")])
def test_format_duration(seconds: float, text: str) -> None:
    assert cli.format_duration(dt.timedelta(seconds=seconds)) == text
    assert cli.format_duration(None) == "-"


def test_load_documents_yaml_json_and_lists() -> None:
    doc = {"apiVersion": "flyte.org/v1", "kind": "TaskAction", "spec": {"actionName": "a0"}}
    assert cli.load_documents(yaml.safe_dump_all([doc, doc])) == [doc, doc]
    assert cli.load_documents(json.dumps([doc])) == [doc]
    assert cli.load_documents(json.dumps({"kind": "List", "items": [doc]})) == [doc]
    with pytest.raises(errors.ClientError, match="not a TaskAction"):
        cli.load_documents(yaml.safe_dump({"kind": "Pod"}))


class CliApi(FakeApi):
    def __init__(self, *objects: dict[str, Any], logs: dict[str, str] | None = None):
        super().__init__(*objects)
        self.logs = logs or {}

    async def list_all_taskactions(self, namespace: str, selector: str) -> tuple[list[dict], str]:
        run = selector.partition("=")[2]
        return [o for o in self.objects.values() if not run or o["spec"]["runName"] == run], "1"

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None  # the pods are gone; their logs (self.logs) may still be served

    async def pod_log(self, namespace: str, name: str) -> str:
        if name not in self.logs:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        return self.logs[name]


def run_cli(api: Any, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    async def connect(*_: Any) -> Any:
        api.close = _noop
        return api

    monkeypatch.setattr(cli, "connect", connect)
    return cli.main(argv)


async def _noop() -> None:
    return None


def test_tree_command_human_and_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    api = CliApi(*recorded_run())
    assert run_cli(api, ["tree", "r", "-n", "flyte"], monkeypatch) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "run r (flyte): SUCCEEDED" and "      train" in out
    assert run_cli(api, ["tree", "r", "-o", "json"], monkeypatch) == 0
    assert json.loads(capsys.readouterr().out)["actions"][2]["action"] == "train"
    assert run_cli(api, ["tree", "other"], monkeypatch) == 2
    assert "no TaskAction of run 'other'" in capsys.readouterr().err


def test_get_command_yaml(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert run_cli(CliApi(*recorded_run()), ["get", "-o", "yaml"], monkeypatch) == 0
    assert len(yaml.safe_load(capsys.readouterr().out)["items"]) == 3


def test_logs_of_the_current_or_a_given_attempt(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    obj = ta("a0", None, RUNNING)
    obj["status"]["attempts"] = 2
    api = CliApi(obj, logs={"r-a0-1": "second try\n", "r-a0-0": "first try\n"})
    assert run_cli(api, ["logs", "r-a0"], monkeypatch) == 0
    assert capsys.readouterr().out == "second try\n"
    assert run_cli(api, ["logs", "r-a0", "--attempt", "1"], monkeypatch) == 0
    assert capsys.readouterr().out == "first try\n"
    assert run_cli(api, ["logs", "r-a0", "--attempt", "3"], monkeypatch) == 2
    assert "pod default/r-a0-2 (attempt 3) does not exist" in capsys.readouterr().err


K8S_LINK = "http://localhost:30082/#!/log/flyte/r-a0-0/pod?namespace=flyte"


def test_get_of_a_run_shows_the_log_links_of_each_current_attempt(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    api = CliApi(*recorded_run())
    assert run_cli(api, ["get", "r", "-n", "flyte"], monkeypatch) == 0
    out = capsys.readouterr().out
    # The root ran a pod; the failed child never had one, the running one has no phase history yet.
    assert out.split("log links:\n")[1] == f"  r-a0 (attempt 1) Kubernetes Logs: {K8S_LINK}\n"
    config = json.dumps({"kubernetes-enabled": False, "templates": [{"displayName": "Loki", "templateUris": ["https://loki/{{ .podName }}"]}]})
    assert run_cli(api, ["get", "r", "-n", "flyte", "--log-config", config], monkeypatch) == 0
    assert out_links(capsys.readouterr().out) == ["r-a0 (attempt 1) Loki: https://loki/r-a0-0"]


def out_links(out: str) -> list[str]:
    return [line.strip() for line in out.split("log links:\n")[1].splitlines()]


def test_logs_of_a_gone_pod_are_its_log_links(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    obj = ta("a0", None, DONE, history=[{"phase": "Queued", "occurredAt": "2026-01-01T00:00:00Z"}, {"phase": "Executing", "occurredAt": "2026-01-01T00:00:01Z"}])
    api = CliApi(obj)
    assert run_cli(api, ["logs", "r-a0", "-n", "flyte"], monkeypatch) == 0
    assert capsys.readouterr().out == f"pod flyte/r-a0-0 (attempt 1) is gone; its logs:\n  Kubernetes Logs: {K8S_LINK}\n"
    assert run_cli(api, ["logs", "r-a0", "-n", "flyte", "-o", "json"], monkeypatch) == 0
    assert json.loads(capsys.readouterr().out)["links"] == [{"name": "Kubernetes Logs", "uri": K8S_LINK}]


def test_submit_container_child_and_file(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, tmp_path) -> None:
    api = CliApi(PARENT)
    assert run_cli(api, ["submit", "-n", "flyte", "--image", "busybox", "--run", "hello", "--action", "eval", "--parent", "a0", "--", "true"], monkeypatch) == 0
    assert capsys.readouterr().out.strip() == "taskaction/hello-eval created in flyte\nrun: hello"
    created = api.objects["hello-eval"]
    assert created["metadata"]["ownerReferences"][0]["name"] == "hello-a0"
    assert created["spec"]["envVars"] == {"A": "parent", "B": "parent"}

    root = manifests.root_body(manifests.container_template("busybox", ["true"]), run="fromfile", namespace="flyte", project="p", domain="d")
    child = manifests.child_body(manifests.container_template("busybox", ["true"]), {**root, "metadata": {**root["metadata"], "uid": "u"}}, action="c")
    del child["metadata"]["ownerReferences"]
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump_all([child, root]))
    api = CliApi()
    api.objects = {}
    assert run_cli(api, ["submit", "-f", str(path), "-o", "json"], monkeypatch) == 0
    assert [o["metadata"]["name"] for o in json.loads(capsys.readouterr().out)] == ["fromfile-a0", "fromfile-c"]


def test_submit_container_root_with_its_command_and_a_new_run_name(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    api = CliApi()
    assert run_cli(api, ["submit", "-n", "flyte", "--image", "python:3.12", "--command", "--", "python3", "-c", "pass"], monkeypatch) == 0
    (body,) = [b for call, b in api.calls if call == "create"]
    run = body["spec"]["runName"]
    assert len(run) == 20 and run.startswith("r") and capsys.readouterr().out.splitlines()[-1] == f"run: {run}"
    container = decode_task_template(body["spec"]["taskTemplate"]).container
    assert (list(container.command), list(container.args)) == (["python3", "-c", "pass"], [])
    api = CliApi()
    assert run_cli(api, ["submit", "--image", "busybox", "--run", "r1", "--", "echo", "hi"], monkeypatch) == 0
    container = decode_task_template(api.objects["r1-a0"]["spec"]["taskTemplate"]).container
    assert (list(container.command), list(container.args)) == ([], ["echo", "hi"])


def test_signal_command_reads_the_declared_type(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    obj = signalled(simple=types_pb2.INTEGER)
    obj["metadata"]["resourceVersion"] = "1"
    api = CliApi(obj)
    assert run_cli(api, ["signal", "hello-approve", "nope", "-n", "flyte"], monkeypatch) == 2
    assert "'nope' is not an integer" in capsys.readouterr().err
    assert run_cli(api, ["signal", "hello-approve", "7", "-n", "flyte", "--by", "ada"], monkeypatch) == 0
    assert capsys.readouterr().out.strip() == "signalled hello-approve with 7 as ada"
    assert run_cli(api, ["signal", "hello-approve", "8", "-n", "flyte"], monkeypatch) == 2
    assert "already signalled with 7 by ada" in capsys.readouterr().err


class WaitingApi(CliApi):
    """A run whose watch never says anything more."""

    async def watch_taskactions(self, namespace: str, selector: str, version: str, timeout_seconds: int):
        await asyncio.sleep(3600)
        yield {}


def test_wait_exit_codes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert run_cli(CliApi(*recorded_run()), ["wait", "r"], monkeypatch) == cli.EXIT_SUCCEEDED == 0
    assert capsys.readouterr().out == "run r: SUCCEEDED\n"
    failed = ta("a0", None, FAILED)
    assert run_cli(CliApi(failed), ["wait", "r", "-o", "json"], monkeypatch) == cli.EXIT_ENDED_OTHERWISE == 1
    assert json.loads(capsys.readouterr().out) == {"run": "r", "phase": "FAILED", "timedOut": False}
    assert run_cli(WaitingApi(ta("a0", None, RUNNING)), ["wait", "r", "--timeout", "0.05"], monkeypatch) == cli.EXIT_WAIT_TIMEOUT == 3
    assert capsys.readouterr().out == "run r: still RUNNING after 0.05s\n"
    assert run_cli(CliApi(), ["wait", "nope"], monkeypatch) == 2


def test_rerun_makes_a_new_root_of_the_same_task(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    root = {**PARENT, "metadata": {**PARENT["metadata"], "annotations": {"owner": "ada", "kubectl.kubernetes.io/last-applied-configuration": "{}"}}}
    api = CliApi(root)
    assert run_cli(api, ["rerun", "hello", "--run", "again", "-n", "flyte", "-o", "name"], monkeypatch) == 0
    assert capsys.readouterr().out == "taskaction/again-a0\n"
    created = api.objects["again-a0"]
    assert (created["spec"]["runName"], created["spec"]["runOutputBase"]) == ("again", "s3://b/p/d/again/")
    assert created["spec"]["envVars"] == PARENT["spec"]["envVars"] and created["spec"]["actionName"] == "a0"
    assert created["metadata"]["labels"]["flyte.org/run"] == "again" and created["metadata"]["labels"]["team"] == "ml"
    assert created["metadata"]["annotations"] == {"owner": "ada"}
    assert run_cli(api, ["rerun", "missing", "-n", "flyte"], monkeypatch) == 2


def test_output_name_and_wide(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    items = recorded_run()
    items[0]["status"]["attempts"] = 2
    api = CliApi(*items)
    assert run_cli(api, ["get", "-o", "name"], monkeypatch) == 0
    assert capsys.readouterr().out.split() == ["taskaction/r-a0", "taskaction/r-prepare", "taskaction/r-train"]
    assert run_cli(api, ["get", "-o", "wide"], monkeypatch) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-3:] == ["ATTEMPTS", "POD", "ERROR"]
    assert lines[2].split()[-3:] == ["0", "-", "OOMKilled"] and lines[3].split()[-3:] == ["2", "r-train-1", "-"]
    assert run_cli(api, ["tree", "r", "-o", "name"], monkeypatch) == 0
    assert capsys.readouterr().out.split() == ["taskaction/r-a0", "taskaction/r-prepare", "taskaction/r-train"]


def test_completion_knows_every_command_and_choice(capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["completion", "bash"]) == 0
    out = capsys.readouterr().out
    assert "compgen -W 'submit get tree watch wait rerun completion logs outputs abort signal'" in out
    assert "        wait) opts='--help -n --namespace -o --output --kubeconfig --context --timeout' ;;" in out
    assert "-o|--output) COMPREPLY=($(compgen -W 'human json yaml wide name'" in out
    assert out.rstrip().endswith("complete -o default -F _taskaction_complete taskaction kubectl-taskaction")
    assert cli.main(["completion", "zsh"]) == 0
    assert capsys.readouterr().out.startswith("autoload -U +X bashcompinit && bashcompinit\n")


def test_the_kubectl_plugin_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/usr/local/bin/kubectl-taskaction"])
    assert cli.parser().prog == "kubectl taskaction"
    monkeypatch.setattr("sys.argv", ["taskaction"])
    assert cli.parser().prog == "taskaction"


class FollowApi(CliApi):
    """The TaskAction as successive reads see it, and pods whose logs stream once."""

    def __init__(self, states: list[dict[str, Any]], pods: dict[str, str]):
        super().__init__()
        self.states, self.pod_logs, self.followed = states, pods, []

    async def get_taskaction(self, namespace: str, name: str) -> dict | None:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    async def get_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return {"status": {"phase": "Running"}} if name in self.pod_logs else None

    async def follow_pod_log(self, namespace: str, name: str):
        self.followed.append(name)
        for line in self.pod_logs[name].splitlines(keepends=True):
            yield line


def test_logs_follow_streams_attempt_after_attempt(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    def state(attempts: int, conditions: list) -> dict[str, Any]:
        obj = ta("a0", None, conditions)
        obj["status"]["attempts"] = attempts
        return obj

    monkeypatch.setattr(cli, "LOG_POLL_SECONDS", 0.0)
    api = FollowApi([state(1, RUNNING), state(1, RUNNING), state(2, RUNNING), state(2, DONE)], {"r-a0-0": "first\n", "r-a0-1": "second\n"})
    assert run_cli(api, ["logs", "r-a0", "-f"], monkeypatch) == 0
    assert capsys.readouterr().out == "first\n--- attempt 2 (r-a0-1) ---\nsecond\n"
    assert api.followed == ["r-a0-0", "r-a0-1"]  # each pod streamed once
    api = FollowApi([state(1, FAILED)], {})
    assert run_cli(api, ["logs", "r-a0", "--follow"], monkeypatch) == 1  # ended, its pod gone


class SelectorApi(CliApi):
    async def list_all_taskactions(self, namespace: str, selector: str) -> tuple[list[dict], str]:
        self.calls.append(("list", selector))
        return list(self.objects.values()), "1"


def test_get_filters_by_label_selector_and_phase(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    api = SelectorApi(*recorded_run())
    assert run_cli(api, ["get", "r", "-l", "team=ml,tier!=gold", "--phase", "failed", "-o", "name"], monkeypatch) == 0
    assert api.calls[-1] == ("list", "flyte.org/run=r,team=ml,tier!=gold")
    assert capsys.readouterr().out == "taskaction/r-prepare\n"
    assert run_cli(api, ["get", "-l", "team=ml", "--phase", "running", "-o", "name"], monkeypatch) == 0
    assert api.calls[-1] == ("list", "team=ml") and capsys.readouterr().out == "taskaction/r-train\n"
    with pytest.raises(SystemExit):
        cli.parse(["get", "--phase", "DONE"])
