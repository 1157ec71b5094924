"""The local part of the kubelet stand-in (tests/support/kubelet_standin.py): env, volumes, paths, termination
messages, container order and concurrency, with `sh` as the container's process. No cluster."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.kubelet_standin import (
    DEFAULT_IMAGES,
    ContainerConfigError,
    Image,
    ImageNotModelled,
    expand,
    final_status,
    resolve_env,
    run_pod_locally,
)

IMAGE = "busybox:1.36"


def pod(*containers: dict[str, Any], init: list[dict[str, Any]] | None = None, volumes: list | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "metadata": {"name": "p-0", "namespace": "ns", "uid": "0a1b2c", "labels": {"run": "r1"}},
        "spec": {"nodeName": "node-7", "containers": list(containers), "volumes": volumes or [], **spec},
    }
    if init:
        body["spec"]["initContainers"] = init
    return body


def sh(name: str, script: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": IMAGE, "command": ["sh", "-c", script], **fields}


def test_expand_like_kubernetes() -> None:
    env = {"A": "x", "B": "y"}
    assert expand("$(A)/$(B)", env) == "x/y"
    assert expand("$(C) $$(A) $$ $A $(", env) == "$(C) $(A) $ $A $("


def test_env_envfrom_then_env_later_wins_with_refs() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "gone", "optional": True}}],
        "env": [
            {"name": "CM_A", "value": "overridden $(CM_B)"},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "RUN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['run']"}}},
            {"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "store", "key": "k"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "store", "key": "nope", "optional": True}}},
            {"name": "POD", "value": "second wins"},
        ],
    }
    env = resolve_env(container, pod(), {"store": {"k": "s3cret"}}, {"cm": {"A": "1", "B": "2"}})
    assert env == {
        "CM_A": "overridden 2",
        "CM_B": "2",
        "POD": "second wins",
        "NS": "ns",
        "UID": "0a1b2c",
        "NODE": "node-7",
        "RUN": "r1",
        "KEY": "s3cret",
    }


@pytest.mark.parametrize(
    "var",
    [
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "missing", "key": "k"}}},
        {"name": "X", "valueFrom": {"secretKeyRef": {"name": "store", "key": "missing"}}},
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "missing", "key": "k"}}},
    ],
)
def test_missing_reference_is_a_config_error(var: dict[str, Any]) -> None:
    with pytest.raises(ContainerConfigError):
        resolve_env({"env": [var]}, pod(), {"store": {"k": "v"}}, {})


def test_env_is_the_pods_and_the_images_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAK_FROM_THE_TEST", "1")
    record = run_pod_locally(pod(sh("c", "env", env=[{"name": "MINE", "value": "v"}])), tmp_path)
    env = dict(line.split("=", 1) for line in record.container("c").stdout().splitlines() if "=" in line)
    assert record.exit_codes == {"c": 0}, record.report()
    assert env["MINE"] == "v" and env["HOME"] == str(tmp_path / "home")
    assert env["PATH"].split(":")[0].endswith("bin") and "a0" in {p.name for p in Path(env["PATH"].split(":")[0]).iterdir()}
    assert "LEAK_FROM_THE_TEST" not in env
    assert set(env) - {"MINE", "HOME", "PATH", "TASKACTION_TERMINATION_LOG", "PWD", "SHLVL", "_"} == set()


def test_init_containers_in_order_then_main_with_volumes_and_paths(tmp_path: Path) -> None:
    mounts = [{"name": "work", "mountPath": "/var/run/work"}, {"name": "cache", "mountPath": "/cache"}]
    volumes = [{"name": "work", "emptyDir": {}}, {"name": "cache", "hostPath": {"path": "/var/cache/x", "type": "DirectoryOrCreate"}}]
    first = sh("first", "echo one > /var/run/work/order && echo cached > /cache/file", volumeMounts=mounts)
    second = sh("second", "echo two >> /var/run/work/order", volumeMounts=mounts)
    main = sh("main", "cat order && pwd", volumeMounts=mounts, workingDir="/var/run/work/")
    record = run_pod_locally(pod(main, init=[first, second], volumes=volumes), tmp_path / "pod", node_dir=tmp_path / "node")
    assert record.phase == "Succeeded", record.report()
    assert [c.name for c in record.containers] == ["first", "second", "main"]
    out = record.container("main").stdout().split()
    assert out[:2] == ["one", "two"] and Path(out[2]) == tmp_path / "pod" / "volumes" / "work"
    assert (tmp_path / "node" / "var" / "cache" / "x" / "file").read_text() == "cached\n"


def test_failed_init_container_stops_the_pod(tmp_path: Path) -> None:
    record = run_pod_locally(pod(sh("main", "echo ran"), init=[sh("init", "exit 5")]), tmp_path)
    assert record.phase == "Failed"
    assert record.exit_codes == {"init": 5, "main": None}
    assert final_status(record, {})["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}


def test_termination_message_from_the_file_or_the_log(tmp_path: Path) -> None:
    from_file = sh("file", "echo noise >&2; echo 'the reason' > /dev/termination-log; exit 4", terminationMessagePolicy="FallbackToLogsOnError")
    from_log = sh("log", "echo line1; echo boom >&2; echo line2; exit 3", terminationMessagePolicy="FallbackToLogsOnError")
    policy_file = sh("plain", "echo boom >&2; exit 2")
    custom = sh("custom", "echo custom > /tmp/standin-msg", terminationMessagePath="/tmp/standin-msg")
    record = run_pod_locally(pod(from_file, from_log, policy_file, custom), tmp_path)
    messages = {c.name: (c.exit_code, c.reason, c.message) for c in record.containers}
    # The two streams are read apart, as a container runtime reads them: lines of one stream keep their order in the
    # log, lines of different streams written close together may interleave either way.
    log_message = messages.pop("log")
    assert log_message[:2] == (3, "Error") and sorted(log_message[2].splitlines()) == ["boom", "line1", "line2"]
    assert [line for line in log_message[2].splitlines() if line != "boom"] == ["line1", "line2"]
    assert messages == {
        "file": (4, "Error", "the reason\n"),
        "plain": (2, "Error", ""),
        "custom": (0, "Completed", "custom\n"),
    }
    assert not Path("/tmp/standin-msg").exists()
    assert record.container("log").stderr() == "boom\n" and record.container("log").stdout() == "line1\nline2\n"


def test_main_containers_run_concurrently(tmp_path: Path) -> None:
    mounts = [{"name": "shared", "mountPath": "/shared"}]
    # Each waits for the other's file: only containers started together both finish.
    a = sh("a", "touch /shared/a; until [ -e /shared/b ]; do sleep 0.05; done", volumeMounts=mounts)
    b = sh("b", "touch /shared/b; until [ -e /shared/a ]; do sleep 0.05; done", volumeMounts=mounts)
    record = run_pod_locally(pod(a, b, volumes=[{"name": "shared", "emptyDir": {}}]), tmp_path, timeout=20)
    assert record.exit_codes == {"a": 0, "b": 0}, record.report()


def test_deadline_kills_the_processes(tmp_path: Path) -> None:
    started = time.monotonic()
    record = run_pod_locally(pod(sh("c", "sleep 30")), tmp_path, timeout=1)
    assert time.monotonic() - started < 10
    assert (record.phase, record.reason) == ("Failed", "DeadlineExceeded")
    assert record.exit_codes == {"c": 137}


def test_config_error_starts_nothing(tmp_path: Path) -> None:
    container = sh("c", "touch started", env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}])
    record = run_pod_locally(pod(container), tmp_path)
    assert (record.phase, record.reason) == ("Pending", "CreateContainerConfigError")
    assert record.exit_codes == {"c": None} and not (tmp_path / "home" / "started").exists()
    state = final_status(record, {})["containerStatuses"][0]["state"]["waiting"]
    assert state == {"reason": "CreateContainerConfigError", "message": 'secret "absent" not found'}


def test_unknown_image_and_start_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageNotModelled):
        run_pod_locally(pod({"name": "c", "image": "example.com/unknown:1", "command": ["true"]}), tmp_path / "a")
    record = run_pod_locally(pod({"name": "c", "image": IMAGE, "command": ["no-such-command-here"]}), tmp_path / "b")
    assert (record.phase, record.exit_codes["c"], record.container("c").reason) == ("Failed", 128, "StartError")


def test_final_status_is_a_kubelets(tmp_path: Path) -> None:
    record = run_pod_locally(pod(sh("c", "exit 0"), init=[sh("i", "true")]), tmp_path)
    current = {"conditions": [{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}]}
    status = final_status(record, current)
    assert status["phase"] == "Succeeded"
    conditions = {c["type"]: (c["status"], c.get("reason")) for c in status["conditions"]}
    assert conditions == {
        "PodScheduled": ("True", None),
        "PodReadyToStartContainers": ("False", None),
        "Initialized": ("True", None),
        "Ready": ("False", "PodCompleted"),
        "ContainersReady": ("False", "PodCompleted"),
    }
    (main,) = status["containerStatuses"]
    (init,) = status["initContainerStatuses"]
    for entry, name in ((main, "c"), (init, "i")):
        terminated = entry["state"]["terminated"]
        assert (entry["name"], terminated["exitCode"], terminated["reason"]) == (name, 0, "Completed")
        assert terminated["containerID"].startswith("kubelet-standin://") and terminated["startedAt"] <= terminated["finishedAt"]


def test_a_sidecar_runs_beside_the_rest_and_is_stopped_with_sigterm_after_the_main_containers(tmp_path: Path) -> None:
    shared = {"name": "shared", "mountPath": "/var/shared"}
    sidecar = sh(
        "watcher",
        "touch /var/shared/up; trap 'echo got-term > /var/shared/term; exit 3' TERM; while true; do sleep 0.05; done",
        restartPolicy="Always",
        volumeMounts=[shared],
    )
    after = sh("after", "test -f /var/shared/up", volumeMounts=[shared])
    main = sh("main", "test -f /var/shared/up && test ! -f /var/shared/term", volumeMounts=[shared])
    record = run_pod_locally(pod(main, init=[sidecar, after], volumes=[{"name": "shared", "emptyDir": {}}]), tmp_path)
    assert record.phase == "Succeeded", record.report()  # the sidecar's own exit code decides nothing
    assert record.exit_codes == {"watcher": 3, "after": 0, "main": 0}
    assert [term.read_text() for term in tmp_path.rglob("term")] == ["got-term\n"]  # in the emptyDir


def test_a_sidecar_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    stubborn = sh("stubborn", "trap '' TERM; while true; do sleep 0.05; done", restartPolicy="Always")
    started = time.monotonic()
    record = run_pod_locally(pod(sh("main", "true"), init=[stubborn], terminationGracePeriodSeconds=1), tmp_path)
    assert record.phase == "Succeeded" and record.exit_codes["stubborn"] == 137
    assert 1 <= time.monotonic() - started < 10


def test_an_image_program_at_a_fixed_path_runs_as_the_local_one(tmp_path: Path) -> None:
    program = tmp_path / "copilot"
    program.write_text("#!/bin/sh\necho \"ran with $*\"\n")
    program.chmod(0o755)
    images = DEFAULT_IMAGES.with_images({"registry/tool:": Image(binaries={"/bin/tool": str(program)})})
    record = run_pod_locally(pod({"name": "main", "image": "registry/tool:1", "command": ["/bin/tool"], "args": ["a", "b"]}), tmp_path / "pod", images=images)
    assert record.phase == "Succeeded" and record.container("main").stdout() == "ran with a b\n"
