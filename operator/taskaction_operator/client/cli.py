"""`taskaction`: submit, inspect, follow, abort and signal TaskAction runs, as the Flyte control plane would.

    taskaction submit -f run.yaml
    taskaction submit --image busybox --run hello -- echo hi
    taskaction submit --image python:3.12 --command --watch -- python3 -c 'print(1)'    # a run named r + 19 random
    taskaction submit -f pipeline.py --task pipeline -i x=5 [--run NAME]    # a Flyte SDK task file
    taskaction get [RUN] [-l SELECTOR] [--phase PHASE]   taskaction tree RUN   taskaction watch RUN
    taskaction logs ACTION [--attempt N | -f]   taskaction outputs ACTION
    taskaction abort RUN            taskaction signal ACTION VALUE
    taskaction wait RUN [--timeout S]      taskaction rerun RUN [--run NEW]
    source <(taskaction completion bash)   # or zsh; `kubectl taskaction ...` is the same CLI as a kubectl plugin

`get RUN` and `logs` show the log links of each action's current attempt, built as the operator puts them in its
ActionEvents (`--log-config JSON`, default TASKACTION_LOGS), so logs can be found once a pod is gone.

ACTION is the TaskAction's name (`<run>-<action>`, the root is `<run>-a0`). Human output by default,
`-o json|yaml` for scripts, `-o wide` (attempts, pod, error code) and `-o name` as kubectl's; `-n` (or TASKACTION_NAMESPACE) picks the namespace.

A `-f` file ending in `.py` is a Flyte SDK task file (client.sdk, needs `pip install flyte==2.12.1`): its code
bundle and `inputs.pb` go to `--storage` (credentials: TASKACTION_STORAGE_* / AWS_* / FLYTE_AWS_*), then the root
TaskAction `<run>-a0` is created; the run name is `r` + 19 random characters unless `--run` gives one.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from flyteidl2.common import phase_pb2

from ..api import constants as c
from ..api.log_config import LogConfig
from ..api.times import parse_time, utcnow
from ..kube import ApiError, KubeApi, connect
from ..pods.naming import pod_name, taskaction_name
from ..reporting.action_events import current_links
from ..settings import Settings
from . import action_io, action_phase, completion, errors, literals, manifests, names, runs, sdk, signals, trees

DEFAULT_NAMESPACE_ENV = "TASKACTION_NAMESPACE"
OUTPUTS = ["human", "json", "yaml", "wide", "name"]
MACHINE_OUTPUTS = ("json", "yaml")
PHASES = [action_phase.phase_name(p) for p in phase_pb2.ActionPhase.values() if p]  # QUEUED, ..., SUCCEEDED, FAILED...
EXIT_SUCCEEDED, EXIT_ENDED_OTHERWISE, EXIT_WAIT_TIMEOUT = 0, 1, 3  # 2: usage and API errors, as argparse's
PLUGIN_PREFIX = "kubectl-"


def prog_name() -> str:
    """`taskaction`, or `kubectl taskaction` when run as the kubectl plugin (the kubectl-taskaction executable)."""
    name = Path(sys.argv[0]).name
    return "kubectl " + name.removeprefix(PLUGIN_PREFIX).replace("_", "-") if name.startswith(PLUGIN_PREFIX) else "taskaction"


def _key_values(items: Sequence[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"{what} {item!r} is not KEY=VALUE")
        out[key] = value
    return out


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", default=os.environ.get(DEFAULT_NAMESPACE_ENV, "default"), help="namespace of the TaskActions")
    common.add_argument(
        "-o", "--output", choices=OUTPUTS, default="human",
        help="output format: human, json, yaml, wide (the table with attempts, pod and error), name (taskaction/NAME per line)",
    )
    common.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: KUBECONFIG, ~/.kube/config)")
    common.add_argument("--context", default=None, help="kubeconfig context")
    links = argparse.ArgumentParser(add_help=False)
    links.add_argument(
        "--log-config", type=LogConfig.model_validate_json, default=None, metavar="JSON",
        help="log links as the operator builds them (its TASKACTION_LOGS: the Flyte executor's plugins.logs); default: TASKACTION_LOGS",
    )

    p = argparse.ArgumentParser(prog=prog_name(), description="Submit and follow Flyte 2 TaskAction runs.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("submit", parents=[common], help="create TaskActions from a file, or a container task")
    s.add_argument("-f", "--filename", help="YAML or JSON file of TaskAction(s) ('-' for stdin), or a Flyte SDK task file (.py)")
    s.add_argument("--task", help="the task to run in a Flyte SDK task file (its variable name)")
    s.add_argument("-i", "--input", action="append", metavar="KEY=VALUE", help="an input of the SDK task, read as its declared type (repeatable)")
    s.add_argument("--copy-style", choices=sdk.COPY_STYLES, default="loaded_modules", help="what the SDK task's code bundle holds (default: the loaded modules)")
    s.add_argument("--image", help="container image of a task built here")
    s.add_argument("--run", help="run name (default r + 19 random characters)")
    s.add_argument("--action", default=c.ROOT_ACTION_NAME, help="action name (default: the root, a0)")
    s.add_argument("--parent", default=None, help="parent action (makes a child of an existing action)")
    s.add_argument("--project", default="demo")
    s.add_argument("--domain", default="development")
    s.add_argument("--storage", default="s3://flyte-data", help="storage prefix of the run's data")
    s.add_argument("--retries", type=int, default=0)
    s.add_argument("--env", action="append", metavar="KEY=VALUE", help="run-scoped environment variable (repeatable)")
    s.add_argument("--label", action="append", metavar="KEY=VALUE", help="label (repeatable)")
    s.add_argument("--annotation", action="append", metavar="KEY=VALUE", help="annotation (repeatable)")
    s.add_argument("--command", dest="as_command", action="store_true", help="the words after -- are the container's command, in place of the image's entrypoint (as kubectl run --command); default: its args")
    s.add_argument("--watch", action="store_true", help="then follow the run as `watch` does (exit 0 iff it succeeded)")
    s.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND ARGS... of the container")

    g = sub.add_parser("get", parents=[common, links], help="list TaskActions (of one run, with the log links of each)")
    g.add_argument("run", nargs="?")
    g.add_argument("-l", "--selector", default="", help="label selector, as kubectl's (e.g. team=ml,tier!=gold)")
    g.add_argument("--phase", type=str.upper, choices=PHASES, default=None, help="only the actions in this phase")
    t = sub.add_parser("tree", parents=[common], help="a run as a tree with phases and durations")
    t.add_argument("run")
    w = sub.add_parser("watch", parents=[common], help="the run's tree, live, until it ends (exit 0 iff SUCCEEDED)")
    w.add_argument("run")
    wt = sub.add_parser("wait", parents=[common], help=f"until the run ends, quietly: exit {EXIT_SUCCEEDED} succeeded, {EXIT_ENDED_OTHERWISE} failed, aborted or timed out, {EXIT_WAIT_TIMEOUT} --timeout passed first")
    wt.add_argument("run")
    wt.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="give up after this long (default: never)")
    rr = sub.add_parser("rerun", parents=[common], help="run a run's root again (same task, inputs and environment) as a new run")
    rr.add_argument("run")
    rr.add_argument("--run", dest="new_run", default=None, help="the new run's name (default r + 19 random characters)")
    cp = sub.add_parser("completion", help="the shell completion script: source <(taskaction completion bash)")
    cp.add_argument("shell", choices=completion.SHELLS)
    lg = sub.add_parser("logs", parents=[common, links], help="the logs of an action's pod, or its log links once the pod is gone")
    lg.add_argument("action", help="TaskAction name")
    lg.add_argument("--attempt", type=int, default=None, help="1-based attempt (default: the current one)")
    lg.add_argument("-f", "--follow", action="store_true", help="stream the log, attempt after attempt, until the action ends (exit 0 iff it succeeded)")
    o = sub.add_parser("outputs", parents=[common], help="an action's outputs (outputs.pb)")
    o.add_argument("action", help="TaskAction name")
    a = sub.add_parser("abort", parents=[common], help="abort a run (delete its root)")
    a.add_argument("run")
    sg = sub.add_parser("signal", parents=[common], help="signal a condition action")
    sg.add_argument("action", help="TaskAction name of the condition")
    sg.add_argument("value", help="the value, read as the condition's declared type")
    sg.add_argument("--by", default=None, help="who signals (default: the local user)")
    return p


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = parser()
    args = p.parse_args(argv)
    if args.command == "submit":
        cmd = list(args.cmd or [])
        if cmd and cmd[0] == "--":
            cmd = cmd[1:]
        args.cmd = cmd
        if bool(args.filename) == bool(args.image):
            p.error("submit needs either -f FILE or --image IMAGE -- COMMAND...")
        if args.image and not cmd:
            p.error("submit --image needs a command after --")
        if args.as_command and not args.image:
            p.error("--command goes with --image")
        if args.image and not args.run and (args.parent or args.action != c.ROOT_ACTION_NAME):
            p.error("a child action (--action, --parent) needs --run NAME, its run")
        if args.filename and cmd:
            p.error("submit -f takes no command")
        check_sdk_submit(p, args)
        try:
            args.input = _key_values(args.input, "--input")
            args.env = _key_values(args.env, "--env")
            args.label = _key_values(args.label, "--label")
            args.annotation = _key_values(args.annotation, "--annotation")
        except argparse.ArgumentTypeError as exc:
            p.error(str(exc))
    return args


def check_sdk_submit(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not sdk.is_sdk_file(args.filename):
        if args.task or args.input:
            p.error("--task and -i/--input go with a Flyte SDK task file (-f FILE.py)")
        return
    if not args.task:
        p.error("submit -f FILE.py needs --task NAME (the task to run)")
    if not Path(args.filename).is_file():
        p.error(f"{args.filename} is not a file")
    if args.parent is not None or args.action != c.ROOT_ACTION_NAME:
        p.error("submit -f FILE.py starts a run (its root, a0): --action and --parent do not apply")


# --- rendering ----------------------------------------------------------------------------------------------------


def format_duration(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{delta.total_seconds():.1f}s" if seconds < 10 else f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def render_tree(tree: trees.RunTree, now: dt.datetime | None = None) -> str:
    lines = [f"run {tree.run} ({tree.namespace}): {action_phase.phase_name(tree.phase)}"]
    rows = []
    for depth, node in tree.walk():
        label = "  " * depth + node.action
        kind = (node.obj.get("spec") or {}).get("actionType") or c.ACTION_TYPE_TASK
        error = ((node.obj.get("status") or {}).get("errorState") or {}).get("message") or ""
        rows.append((label, action_phase.phase_name(node.phase), format_duration(node.duration(now)), kind, node.name, error))
    width = max([len(r[0]) for r in rows] + [6])
    for label, phase, duration, kind, name, error in rows:
        line = f"  {label:<{width}}  {phase:<12} {duration:>8}  {kind:<9} {name}"
        lines.append(line + (f"  ({error})" if error else ""))
    return "\n".join(lines)


def tree_data(tree: trees.RunTree) -> dict[str, Any]:
    now = utcnow()
    return {
        "run": tree.run,
        "namespace": tree.namespace,
        "phase": action_phase.phase_name(tree.phase),
        "actions": [
            {
                "action": node.action,
                "name": node.name,
                "parent": node.parent,
                "depth": depth,
                "phase": action_phase.phase_name(node.phase),
                "durationSeconds": (d.total_seconds() if (d := node.duration(now)) is not None else None),
                "attempts": (node.obj.get("status") or {}).get("attempts"),
                "errorState": (node.obj.get("status") or {}).get("errorState"),
            }
            for depth, node in tree.walk()
        ],
    }


def render_table(objects: list[dict[str, Any]], now: dt.datetime | None = None, wide: bool = False) -> str:
    now = now or utcnow()
    rows = [("NAME", "RUN", "ACTION", "PARENT", "TYPE", "PHASE", "AGE") + (("ATTEMPTS", "POD", "ERROR") if wide else ())]
    for obj in sorted(objects, key=lambda o: o["metadata"]["name"]):
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        created = parse_time(obj["metadata"].get("creationTimestamp"))
        row = (
            obj["metadata"]["name"],
            spec.get("runName", ""),
            spec.get("actionName", ""),
            spec.get("parentActionName") or "-",
            spec.get("actionType") or spec.get("taskType") or "",
            action_phase.phase_name(action_phase.phase_of(obj)),
            format_duration(now - created) if created else "-",
        )
        if wide:
            attempts = int(status.get("attempts") or 0)
            pod = pod_name(obj["metadata"]["name"], attempts) if attempts and spec.get("actionType") != c.ACTION_TYPE_CONDITION else "-"
            row += (str(attempts), pod, (status.get("errorState") or {}).get("code") or "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows)


def emit(data: Any, output: str, human: str, names: Sequence[str] | None = None) -> None:
    """`names`: the TaskActions `-o name` prints; commands without them print the human text for name and wide."""
    if output == "json":
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    elif output == "yaml":
        print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip())
    elif output == "name" and names is not None:
        print("\n".join(f"taskaction/{name}" for name in names))
    else:
        print(human)
    sys.stdout.flush()


def load_documents(text: str) -> list[dict[str, Any]]:
    """YAML (several documents) or JSON; a `List` or a JSON array is flattened."""
    docs: list[Any] = [d for d in yaml.safe_load_all(text) if d is not None]
    out: list[dict[str, Any]] = []
    for doc in docs:
        items = doc if isinstance(doc, list) else doc.get("items") if isinstance(doc, dict) and doc.get("kind", "").endswith("List") else [doc]
        for item in items:
            if not isinstance(item, dict) or item.get("kind") != c.KIND:
                raise errors.ClientError(f"not a TaskAction: {str(item)[:80]}")
            out.append(item)
    return out


# --- commands -----------------------------------------------------------------------------------------------------


async def sdk_run_body(api: KubeApi, args: argparse.Namespace) -> dict[str, Any]:
    """Upload the SDK task's bundle and inputs.pb, and return its root TaskAction (not created yet)."""
    run = args.run or sdk.new_run_name()
    names.validate_names(run=run, action=c.ROOT_ACTION_NAME, project=args.project, domain=args.domain, namespace=args.namespace)
    name = taskaction_name(run, c.ROOT_ACTION_NAME)
    # inputs.pb is written before the TaskAction is created: never over the inputs of an existing run.
    if await api.get_taskaction(args.namespace, name) is not None:
        raise errors.ClientError(f"run {run!r} already exists (TaskAction {args.namespace}/{name}): choose another --run")
    prepared = await sdk.prepare_sdk_run(
        Path(args.filename), args.task, args.input, run=run, namespace=args.namespace, project=args.project,
        domain=args.domain, storage=args.storage, settings=Settings(), labels=args.label,
        annotations=args.annotation, env_vars=args.env or None, copy_style=args.copy_style,
    )
    return prepared.body


async def cmd_submit(api: KubeApi, args: argparse.Namespace) -> int:
    if sdk.is_sdk_file(args.filename):
        bodies = [await sdk_run_body(api, args)]
    elif args.filename:
        text = sys.stdin.read() if args.filename == "-" else Path(args.filename).read_text()
        bodies = runs.order_for_submit(load_documents(text))
    else:
        command, cmd_args = (args.cmd, []) if args.as_command else ([], args.cmd)
        template = manifests.container_template(
            args.image, cmd_args, command=command, project=args.project, domain=args.domain, retries=args.retries
        )
        args.run = args.run or sdk.new_run_name()
        if args.parent is None and args.action == c.ROOT_ACTION_NAME:
            bodies = [
                manifests.root_body(
                    template, run=args.run, namespace=args.namespace, project=args.project, domain=args.domain,
                    storage=args.storage, labels=args.label, annotations=args.annotation, env_vars=args.env or None,
                )
            ]
        else:
            parent = await runs.get_parent(api, args.namespace, args.run, args.parent or c.ROOT_ACTION_NAME)
            bodies = [
                manifests.child_body(template, parent, action=args.action, labels=args.label, annotations=args.annotation, env_vars=args.env or None)
            ]
    created = [await runs.submit(api, body, namespace=args.namespace) for body in bodies]
    lines = [f"taskaction/{o['metadata']['name']} created in {o['metadata']['namespace']}" for o in created]
    lines.append(f"run: {created[0]['spec']['runName']}")
    emit(created, args.output, "\n".join(lines), [o["metadata"]["name"] for o in created])
    if args.watch:
        return await follow_run(api, created[0]["spec"]["runName"], args.namespace, args.output)
    return 0


async def cmd_get(api: KubeApi, args: argparse.Namespace) -> int:
    selector = ",".join(s for s in (trees.run_selector(args.run) if args.run else "", args.selector) if s)
    items, _ = await api.list_all_taskactions(args.namespace, selector)
    if args.run and not items:
        raise errors.NotFound(f"no TaskAction of run {args.run!r} in namespace {args.namespace!r}")
    if args.phase:
        items = [o for o in items if action_phase.phase_name(action_phase.phase_of(o)) == args.phase]
    human = render_table(items, wide=args.output == "wide") if items else f"no TaskActions in namespace {args.namespace}"
    if args.run:
        human += render_links(items, args.log_config or Settings().logs)
    emit({"items": items}, args.output, human, sorted(o["metadata"]["name"] for o in items))
    return 0


def render_links(items: list[dict[str, Any]], config: LogConfig) -> str:
    """The log links of each action's current attempt (from the operator's log-link configuration)."""
    now = utcnow()
    lines = []
    for obj in sorted(items, key=lambda o: o["metadata"]["name"]):
        attempt = int((obj.get("status") or {}).get("attempts") or 1)
        for link in current_links(obj, config, None, now):
            lines.append(f"  {obj['metadata']['name']} (attempt {attempt}) {link.name}: {link.uri}")
    return "\n\nlog links:\n" + "\n".join(lines) if lines else ""


async def cmd_tree(api: KubeApi, args: argparse.Namespace) -> int:
    tree = await trees.get_run(api, args.run, args.namespace)
    emit(tree_data(tree), args.output, render_tree(tree), [node.name for _, node in tree.walk()])
    return 0


async def cmd_watch(api: KubeApi, args: argparse.Namespace) -> int:
    return await follow_run(api, args.run, args.namespace, args.output)


async def follow_run(api: KubeApi, run: str, namespace: str, output: str) -> int:
    tree = None
    async for tree in trees.watch_run(api, run, namespace):
        if output not in MACHINE_OUTPUTS:
            print(render_tree(tree) + "\n", flush=True)
        else:
            data = tree_data(tree)
            print(json.dumps(data, sort_keys=True) if output == "json" else "---\n" + yaml.safe_dump(data, sort_keys=False).rstrip(), flush=True)
    return 0 if tree is not None and tree.phase == phase_pb2.ACTION_PHASE_SUCCEEDED else 1


async def cmd_wait(api: KubeApi, args: argparse.Namespace) -> int:
    tree = None
    try:
        async with asyncio.timeout(args.timeout):
            async for tree in trees.watch_run(api, args.run, args.namespace):
                pass
    except TimeoutError:
        phase = action_phase.phase_name(tree.phase) if tree is not None else "unknown"
        emit({"run": args.run, "phase": phase, "timedOut": True}, args.output, f"run {args.run}: still {phase} after {args.timeout:g}s")
        return EXIT_WAIT_TIMEOUT
    phase = action_phase.phase_name(tree.phase) if tree is not None else "unknown"
    emit({"run": args.run, "phase": phase, "timedOut": False}, args.output, f"run {args.run}: {phase}")
    return EXIT_SUCCEEDED if tree is not None and tree.phase == phase_pb2.ACTION_PHASE_SUCCEEDED else EXIT_ENDED_OTHERWISE


async def cmd_rerun(api: KubeApi, args: argparse.Namespace) -> int:
    root = await _taskaction(api, args.namespace, taskaction_name(args.run, c.ROOT_ACTION_NAME))
    body = runs.rerun_body(root, args.new_run or sdk.new_run_name())
    created = await runs.submit(api, body, namespace=args.namespace)
    name = created["metadata"]["name"]
    emit(created, args.output, f"taskaction/{name} created in {args.namespace}\nrun: {created['spec']['runName']}", [name])
    return 0


async def _taskaction(api: KubeApi, namespace: str, name: str) -> dict[str, Any]:
    obj = await api.get_taskaction(namespace, name)
    if obj is None:
        raise errors.NotFound(f"TaskAction {namespace}/{name} does not exist")
    return obj


async def cmd_logs(api: KubeApi, args: argparse.Namespace) -> int:
    if args.follow:
        return await follow_logs(api, args.namespace, args.action)
    ta = await _taskaction(api, args.namespace, args.action)
    current = int((ta.get("status") or {}).get("attempts") or 1)
    attempt = args.attempt or current
    pod = pod_name(args.action, attempt)
    text = None
    try:
        text = await api.pod_log(args.namespace, pod)
    except ApiError as exc:
        if exc.status != 404:
            raise
    links = []
    if attempt == current:  # the links are the current attempt's
        now = utcnow()
        found = await api.get_pod(args.namespace, pod)
        links = [{"name": link.name, "uri": link.uri} for link in current_links(ta, args.log_config or Settings().logs, found, now)]
    if text is None and not links:
        raise errors.NotFound(f"pod {args.namespace}/{pod} (attempt {attempt}) does not exist")
    if args.output in MACHINE_OUTPUTS:
        emit({"pod": pod, "attempt": attempt, "log": text, "links": links}, args.output, "")
    elif text is not None:
        sys.stdout.write(text)
    else:
        print(f"pod {args.namespace}/{pod} (attempt {attempt}) is gone; its logs:")
        print("\n".join(f"  {link['name']}: {link['uri']}" for link in links))
    return 0


LOG_POLL_SECONDS = 1.0
LOG_PHASES = ("Running", "Succeeded", "Failed")  # a pod whose container has started: its log can be read


async def follow_logs(api: KubeApi, namespace: str, action: str) -> int:
    """Each attempt's pod log as it is written, the next attempt's after it (a line `--- attempt N (POD) ---`
    between them), until the action ends. A pod not started yet is waited for; one already gone is skipped."""
    attempt, streamed = 0, False
    while True:
        ta = await _taskaction(api, namespace, action)
        current = int((ta.get("status") or {}).get("attempts") or 1)
        if current != attempt:
            if attempt:
                print(f"--- attempt {current} ({pod_name(action, current)}) ---", flush=True)
            attempt, streamed = current, False
        phase = action_phase.phase_of(ta)
        if not streamed:
            pod = await api.get_pod(namespace, pod_name(action, attempt))
            if pod is not None and (pod.get("status") or {}).get("phase") in LOG_PHASES:
                try:
                    async for text in api.follow_pod_log(namespace, pod_name(action, attempt)):
                        sys.stdout.write(text)
                        sys.stdout.flush()
                    streamed = True
                except ApiError as exc:
                    if exc.status not in (400, 404):  # not started after all, or gone: look again
                        raise
        if action_phase.is_terminal(phase):
            return 0 if phase == phase_pb2.ACTION_PHASE_SUCCEEDED else 1
        await asyncio.sleep(LOG_POLL_SECONDS)


async def cmd_outputs(api: KubeApi, args: argparse.Namespace) -> int:
    ta = await _taskaction(api, args.namespace, args.action)
    uri = action_io.output_uri(ta)
    values = await action_io.read_outputs(uri)
    human = "\n".join(f"{k} = {v!r}" for k, v in values.items()) or f"no outputs ({uri}/outputs.pb is empty)"
    emit({"uri": uri, "outputs": {k: v if isinstance(v, (bool, int, float, str, list, dict, type(None))) else str(v) for k, v in values.items()}}, args.output, human)
    return 0


async def cmd_abort(api: KubeApi, args: argparse.Namespace) -> int:
    deleted = await runs.abort(api, args.run, args.namespace)
    if not deleted:
        raise errors.NotFound(f"run {args.run!r} has no root TaskAction in namespace {args.namespace!r}")
    emit({"run": args.run, "aborted": True}, args.output, f"run {args.run} aborted (its actions and pods are being deleted)")
    return 0


async def cmd_signal(api: KubeApi, args: argparse.Namespace) -> int:
    ta = await _taskaction(api, args.namespace, args.action)
    spec = signals.condition_spec(ta)
    literal = signals.parse_signal_value(args.value, spec.type.simple)
    by = args.by or getpass.getuser()
    result = await signals.signal(api, args.action, literal, by, args.namespace)
    status = result.get("status") or {}
    emit(
        {"action": args.action, "value": literals.from_literal(literal), "signalledBy": status.get("signalledBy"), "signalledAt": status.get("signalledAt")},
        args.output,
        f"signalled {args.action} with {literals.from_literal(literal)!r} as {status.get('signalledBy')}",
    )
    return 0


COMMANDS = {
    "submit": cmd_submit, "get": cmd_get, "tree": cmd_tree, "watch": cmd_watch, "wait": cmd_wait, "rerun": cmd_rerun,
    "logs": cmd_logs, "outputs": cmd_outputs, "abort": cmd_abort, "signal": cmd_signal,
}


async def run(args: argparse.Namespace) -> int:
    api = await connect(args.kubeconfig, args.context)
    try:
        return await COMMANDS[args.command](api, args)
    finally:
        await api.close()
        from ..storage.filesystems import close_filesystems

        await close_filesystems()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.command == "completion":  # no cluster needed
        print(completion.script(parser(), args.shell))
        return 0
    try:
        return asyncio.run(run(args))
    except errors.ClientError as exc:
        print(f"taskaction: {exc}", file=sys.stderr)
        return 2
    except ApiError as exc:
        print(f"taskaction: the API server said {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
