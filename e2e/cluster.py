#!/usr/bin/env python3
"""Local Kubernetes test cluster for taskaction-operator: kwok + self-built control plane.

    python3 e2e/cluster.py up          # build/reuse binaries, create (or reuse) the cluster
    python3 e2e/cluster.py status      # what runs; exit 0 if healthy, 1 otherwise
    python3 e2e/cluster.py kubeconfig  # print the kubeconfig path
    python3 e2e/cluster.py down        # delete the cluster, leave no process behind
    export KUBECONFIG=$(python3 e2e/cluster.py kubeconfig)

The cluster is `kwokctl --runtime binary`: real etcd 3.6, kube-apiserver,
kube-controller-manager (garbage collector, namespace/ServiceAccount/Job controllers)
and kube-scheduler v1.36.3, plus kwok-controller faking 2 nodes and pod lifecycles
through the Stages in e2e/kwok/stages.yaml (label sim.taskaction.dev/outcome etc.,
documented there). Binaries come from e2e/build-k8s-bins.sh. Everything listens on
127.0.0.1 only.

Paths (TASKACTION_CACHE overrides the cache root, same as the build script):
    $HOME/.cache/taskaction-operator/bin          binaries
    $HOME/.cache/taskaction-operator/kwok         KWOK_WORKDIR (cluster dir, logs, pids)
    $HOME/.cache/taskaction-operator/kubeconfig   kubeconfig of the cluster

TASKACTION_CLUSTER_NAME names a second cluster beside the shared one (the chaos suite restarts its API server):
its own cluster dir and kubeconfig-<name>; binaries, stages and the lock are shared.

Stdlib only; importable (`up()`, `down()`, `status()`, `kubectl()`, `KUBECONFIG`, ...).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import string
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
E2E = REPO / "e2e"
BUILD_SCRIPT = E2E / "build-k8s-bins.sh"
KWOKCTL_TEMPLATE = E2E / "kwok" / "kwokctl.yaml"
STAGES = E2E / "kwok" / "stages.yaml"

CACHE = Path(os.environ.get("TASKACTION_CACHE") or Path.home() / ".cache" / "taskaction-operator")
BIN_DIR = CACHE / "bin"
KWOK_WORKDIR = CACHE / "kwok"
LOCK_FILE = CACHE / "cluster.lock"

DEFAULT_CLUSTER_NAME = "taskaction"
CLUSTER_NAME = os.environ.get("TASKACTION_CLUSTER_NAME") or DEFAULT_CLUSTER_NAME
_SUFFIX = "" if CLUSTER_NAME == DEFAULT_CLUSTER_NAME else f"-{CLUSTER_NAME}"
KUBECONFIG = CACHE / f"kubeconfig{_SUFFIX}"
RENDERED_CONFIG = CACHE / f"kwokctl{_SUFFIX}.rendered.yaml"
CLUSTER_DIR = KWOK_WORKDIR / "clusters" / CLUSTER_NAME
CONFIG_HASH_FILE = CLUSTER_DIR / "taskaction-config.sha256"
NODE_COUNT = 2
# jq updates of kwokctl's node template parameters. Its defaults collide with the cluster:
# pod CIDR 10.0.0.0/24 is also the Service CIDR (the first pod got 10.0.0.1, the IP of the
# `kubernetes` Service) and node IP 192.0.2.2 is this VM's own eth0 address. IPv4 only.
NODE_PARAMS = ('.podCIDRs = ["10.244.0.0/24"]', '.nodeIPs = ["198.51.100.1"]')
# kwokctl symlinks each binary as <cluster dir>/bin/<component> and names pid files
# (pids/<component>.pid) and logs (logs/<component>.log) after the component
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok-controller")

CREATE_TIMEOUT = 180  # seconds for kwokctl create (processes up, apiserver healthy)
READY_TIMEOUT = 120  # seconds for nodes Ready / default ServiceAccount


class ClusterError(RuntimeError):
    """Something did not come up (or go down); the message says what."""


def log(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers


def tool_env() -> dict[str, str]:
    """Environment for kwokctl/kubectl: our bin dir first on PATH, our KWOK_WORKDIR, and no
    stray KWOK_* / KUBECONFIG from the caller (KWOK_* env vars override kwokctl config keys)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KWOK_") and k != "KUBECONFIG"}
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    env["KWOK_WORKDIR"] = str(KWOK_WORKDIR)
    env["KUBECACHEDIR"] = str(CACHE / "kube-cache")  # kubectl's discovery cache, not ~/.kube/cache
    return env


def run(args: list[str], *, timeout: float = 60, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    """Run a command, capture output; raise ClusterError with its output on failure."""
    try:
        proc = subprocess.run(args, env=tool_env(), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"timed out after {timeout}s: {' '.join(args)}") from exc
    except FileNotFoundError as exc:
        raise ClusterError(f"not found: {args[0]} (run `python3 e2e/cluster.py up` to build it)") from exc
    if check and proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()
        raise ClusterError(f"`{' '.join(args)}` failed (exit {proc.returncode}):\n{out}")
    if not quiet and proc.returncode != 0:
        log(f"`{' '.join(args)}` exited {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-2000:]}")
    return proc


def kwokctl(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    return run([str(BIN_DIR / "kwokctl"), "--name", CLUSTER_NAME, *args], timeout=timeout, check=check)


def kubectl(*args: str, timeout: float = 30, check: bool = True, kubeconfig: Path = KUBECONFIG) -> subprocess.CompletedProcess:
    """kubectl v1.36.3 from the cache against this cluster."""
    return run([str(BIN_DIR / "kubectl"), "--kubeconfig", str(kubeconfig), *args], timeout=timeout, check=check, quiet=True)


@contextlib.contextmanager
def locked():
    """Serialise up/down between concurrent callers (two test runs, a dev and CI)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_binaries() -> None:
    """Run e2e/build-k8s-bins.sh (fast no-op when the cache holds the right versions)."""
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=sys.stderr, stderr=sys.stderr)
    if proc.returncode != 0:
        raise ClusterError(f"{BUILD_SCRIPT.relative_to(REPO)} failed with exit code {proc.returncode}")
    missing = [b for b in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "etcd", "kwok", "kwokctl")
               if not os.access(BIN_DIR / b, os.X_OK)]
    if missing:
        raise ClusterError(f"build script succeeded but {BIN_DIR} lacks: {', '.join(missing)}")


def render_config() -> tuple[str, str]:
    """kwokctl.yaml with paths substituted + stages.yaml, and its sha256."""
    template = string.Template(KWOKCTL_TEMPLATE.read_text())
    try:
        conf = template.substitute(BIN_DIR=str(BIN_DIR))
    except (KeyError, ValueError) as exc:
        raise ClusterError(f"{KWOKCTL_TEMPLATE}: bad placeholder: {exc}") from exc
    text = conf.rstrip("\n") + "\n---\n" + STAGES.read_text()
    # What `up` compares to decide "recreate": the config without its full-line comments (so
    # editing documentation does not restart a cluster others use) plus the node setup.
    meaningful = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    digest = hashlib.sha256((meaningful + repr((NODE_COUNT, NODE_PARAMS))).encode()).hexdigest()
    return text, digest


# --------------------------------------------------------------------------- processes


def _proc_cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def _proc_cmdline(pid: int) -> list[str]:
    try:
        return [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return []


def cluster_processes() -> dict[int, str]:
    """pid -> command of every live process that belongs to this cluster: started with its
    cwd in the cluster dir (kwokctl's binary runtime does that) or with an argument inside it.
    Also finds orphans whose cluster dir was already removed. Zombies are skipped."""
    prefix = str(CLUSTER_DIR)
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            continue  # dead, not yet reaped by init
        cmd = _proc_cmdline(pid)
        if not cmd:
            continue
        if os.path.basename(cmd[0]) not in COMPONENTS:
            continue  # e.g. someone's `tail -f .../logs/etcd.log` is not ours to kill
        cwd = _proc_cwd(pid)
        if cwd == prefix or cwd.startswith(prefix + "/") or cwd.startswith(prefix + " ") or any(a.endswith(prefix) or prefix + "/" in a for a in cmd[1:]):
            found[pid] = " ".join(cmd)[:160]
    return found


def _pidfile_processes() -> dict[str, int | None]:
    """component -> pid from kwokctl's pid files (None when the file is stale)."""
    out: dict[str, int | None] = {}
    pid_dir = CLUSTER_DIR / "pids"
    if not pid_dir.is_dir():
        return out
    ours = cluster_processes()
    for f in sorted(pid_dir.glob("*.pid")):
        try:
            pid = int(f.read_text().strip())
        except ValueError:
            pid = -1
        out[f.stem] = pid if pid in ours else None
    return out


def scrub_stale_pidfiles() -> None:
    """kwokctl SIGKILLs whatever pid its pid files name. After a reboot those pids may belong
    to unrelated processes, so drop every pid file whose process is not one of ours."""
    pid_dir = CLUSTER_DIR / "pids"
    for name, pid in _pidfile_processes().items():
        if pid is None:
            log(f"removing stale pid file {pid_dir / (name + '.pid')}")
            (pid_dir / f"{name}.pid").unlink(missing_ok=True)


def kill_leftovers(timeout: float = 15) -> None:
    procs = cluster_processes()
    if not procs:
        return
    for pid, cmd in procs.items():
        log(f"terminating leftover process {pid}: {cmd}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and cluster_processes():
        time.sleep(0.2)
    for pid in cluster_processes():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    still = cluster_processes()
    if still:
        raise ClusterError(f"processes of cluster {CLUSTER_NAME} survive SIGKILL: {still}")


# --------------------------------------------------------------------------- health


def exists() -> bool:
    return (CLUSTER_DIR / "kwok.yaml").is_file()


def apiserver_url() -> str | None:
    for path in (KUBECONFIG, CLUSTER_DIR / "kubeconfig.yaml"):
        with contextlib.suppress(OSError):
            m = re.search(r"^\s*server:\s*(\S+)", path.read_text(), re.M)
            if m:
                return m.group(1)
    return None


def check_health(kubeconfig: Path = KUBECONFIG) -> list[str]:
    """Problems of the running cluster; empty list = healthy."""
    if not exists():
        return [f"cluster {CLUSTER_NAME} does not exist ({CLUSTER_DIR})"]
    pids = _pidfile_processes()
    problems = [f"component {comp} is not running" for comp in COMPONENTS if pids.get(comp) is None]
    if not kubeconfig.is_file():
        problems.append(f"no kubeconfig at {kubeconfig}")
        return problems
    ready = kubectl("get", "--raw", "/readyz", timeout=10, check=False, kubeconfig=kubeconfig)
    if ready.returncode != 0:
        problems.append(f"kube-apiserver does not answer /readyz: {(ready.stdout + ready.stderr).strip()[-300:]}")
        return problems
    problems += node_problems(kubeconfig)
    sa = kubectl("get", "serviceaccount", "default", "-n", "default", "-o", "name", check=False, kubeconfig=kubeconfig)
    if sa.returncode != 0:
        problems.append("ServiceAccount default/default does not exist")
    return problems


def node_problems(kubeconfig: Path = KUBECONFIG) -> list[str]:
    proc = kubectl("get", "nodes", "-o", "json", check=False, kubeconfig=kubeconfig)
    if proc.returncode != 0:
        return [f"cannot list nodes: {proc.stderr.strip()}"]
    nodes = json.loads(proc.stdout)["items"]
    problems = []
    good = 0
    for n in nodes:
        name = n["metadata"]["name"]
        conds = {c["type"]: c["status"] for c in n.get("status", {}).get("conditions", [])}
        taints = [t["key"] for t in n.get("spec", {}).get("taints", []) or []
                  if t["key"].startswith("node.kubernetes.io/")]
        if conds.get("Ready") != "True":
            problems.append(f"node {name} is not Ready")
        elif taints:
            problems.append(f"node {name} still has taints {taints}")
        else:
            good += 1
    if good < NODE_COUNT:
        problems.append(f"{good}/{NODE_COUNT} nodes Ready and schedulable")
    return problems


def wait_for(what: str, probe, timeout: float) -> None:
    """Poll probe() (returns list of problems) until it returns [] or time runs out."""
    deadline = time.monotonic() + timeout
    problems = probe()
    while problems and time.monotonic() < deadline:
        time.sleep(0.5)
        problems = probe()
    if problems:
        raise ClusterError(f"timed out after {timeout}s waiting for {what}: " + "; ".join(problems))


def diagnostics() -> str:
    lines = []
    logs = CLUSTER_DIR / "logs"
    if logs.is_dir():
        for f in sorted(logs.glob("*.log")):
            tail = f.read_text(errors="replace").splitlines()[-15:]
            lines.append(f"--- {f} (last {len(tail)} lines)")
            lines.extend(tail)
    return "\n".join(lines)


# --------------------------------------------------------------------------- commands


def _write_kubeconfig() -> None:
    text = kwokctl("get", "kubeconfig").stdout
    if "server:" not in text:
        raise ClusterError(f"kwokctl get kubeconfig returned no kubeconfig:\n{text}")
    tmp = KUBECONFIG.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(KUBECONFIG)


def _wait_reaped(pids, timeout: float = 5) -> None:
    """kwokctl's components are reparented to init when kwokctl exits; after they die they stay
    zombies until init reaps them. Wait for that, so `pgrep` shows nothing once down returns."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if Path(f"/proc/{p}").exists()]
    if left:
        log(f"note: pids {left} are dead but not yet reaped by init (zombies)")


def _delete() -> None:
    pids = set(cluster_processes())
    if exists() or CLUSTER_DIR.exists():
        scrub_stale_pidfiles()
        # --kubeconfig: the file kwokctl removes the cluster's context from. Its default is
        # ~/.kube/config (which we never touched) and "" is rejected ("empty path"), so name ours.
        proc = kwokctl("delete", "cluster", "--kubeconfig", str(KUBECONFIG), timeout=120, check=False)
        if proc.returncode != 0:
            log(f"kwokctl delete cluster failed (exit {proc.returncode}), cleaning up by hand:\n{proc.stderr.strip()[-1000:]}")
    kill_leftovers()
    _wait_reaped(pids)
    if CLUSTER_DIR.exists():
        shutil.rmtree(CLUSTER_DIR)
    KUBECONFIG.unlink(missing_ok=True)


def _create(rendered: str, digest: str) -> None:
    RENDERED_CONFIG.write_text(rendered)
    log(f"creating cluster {CLUSTER_NAME} (kwokctl --runtime binary, workdir {CLUSTER_DIR})")
    kwokctl("create", "cluster", "--runtime", "binary", "--config", str(RENDERED_CONFIG),
            "--kubeconfig", "", "--wait", f"{CREATE_TIMEOUT}s", "--timeout", f"{CREATE_TIMEOUT + 30}s",
            timeout=CREATE_TIMEOUT + 60)
    _write_kubeconfig()
    pids = _pidfile_processes()
    missing = [c for c in COMPONENTS if pids.get(c) is None]
    if missing:
        raise ClusterError(f"components not running after create: {', '.join(missing)}")
    wait_for("kube-apiserver /readyz",
             lambda: [] if kubectl("get", "--raw", "/readyz", check=False).returncode == 0 else ["not ready"], 60)
    kwokctl("scale", "node", "--replicas", str(NODE_COUNT), *(a for p in NODE_PARAMS for a in ("--param", p)))
    wait_for(f"{NODE_COUNT} Ready nodes", node_problems, READY_TIMEOUT)
    wait_for("ServiceAccount default/default",
             lambda: [] if kubectl("get", "sa", "default", "-n", "default", check=False).returncode == 0
             else ["missing"], READY_TIMEOUT)
    CONFIG_HASH_FILE.write_text(digest + "\n")


def up(build: bool = True, keep_on_failure: bool = False) -> Path:
    """Make sure the cluster runs and is healthy; return the kubeconfig path."""
    started = time.monotonic()
    with locked():
        if build:
            build_binaries()
        rendered, digest = render_config()
        if exists():
            old = CONFIG_HASH_FILE.read_text().strip() if CONFIG_HASH_FILE.is_file() else ""
            if old != digest:
                log("cluster config/stages changed (or creation never finished): recreating")
                _delete()
            else:
                if not KUBECONFIG.is_file():
                    with contextlib.suppress(ClusterError):
                        _write_kubeconfig()
                problems = check_health()
                if not problems:
                    log(f"cluster {CLUSTER_NAME} already up at {apiserver_url()} ({time.monotonic() - started:.1f}s)")
                    return KUBECONFIG
                log("cluster exists but is broken (" + "; ".join(problems) + "): recreating")
                _delete()
        elif cluster_processes() or CLUSTER_DIR.exists():
            log("removing remains of an earlier cluster")
            _delete()
        try:
            _create(rendered, digest)
        except (ClusterError, KeyboardInterrupt) as exc:
            msg = f"cluster {CLUSTER_NAME} did not come up: {exc}\n{diagnostics()}"
            if keep_on_failure:
                raise ClusterError(msg + f"\n(kept for debugging: {CLUSTER_DIR})") from exc
            with contextlib.suppress(ClusterError):
                _delete()
            raise ClusterError(msg + "\n(cluster deleted again; rerun with --keep-on-failure to inspect it)") from exc
    log(f"cluster {CLUSTER_NAME} up at {apiserver_url()} in {time.monotonic() - started:.1f}s")
    return KUBECONFIG


def down() -> None:
    """Delete the cluster and verify that none of its processes is left."""
    with locked():
        if not exists() and not CLUSTER_DIR.exists() and not cluster_processes():
            log(f"cluster {CLUSTER_NAME} does not exist")
            KUBECONFIG.unlink(missing_ok=True)
            return
        _delete()
        left = cluster_processes()
        if left:
            raise ClusterError(f"processes left behind: {left}")
    log(f"cluster {CLUSTER_NAME} deleted; no process left")


def status() -> bool:
    """Print what runs; True if healthy."""
    if not exists():
        print(f"cluster {CLUSTER_NAME}: not created (workdir {CLUSTER_DIR})")
        left = cluster_processes()
        if left:
            print(f"  stray processes: {left}")
        return False
    print(f"cluster {CLUSTER_NAME}: workdir {CLUSTER_DIR}")
    print(f"  apiserver:  {apiserver_url()}")
    print(f"  kubeconfig: {KUBECONFIG}")
    pids = _pidfile_processes()
    for comp in COMPONENTS:
        pid = pids.get(comp)
        print(f"  {comp:<24} {'running pid ' + str(pid) if pid else 'NOT RUNNING'}")
    if KUBECONFIG.is_file():
        nodes = kubectl("get", "nodes", "-o", "wide", check=False, timeout=10)
        if nodes.returncode == 0:
            print("  " + nodes.stdout.strip().replace("\n", "\n  "))
    problems = check_health()
    if CONFIG_HASH_FILE.is_file() and CONFIG_HASH_FILE.read_text().strip() != render_config()[1]:
        print("  note: e2e/kwok config/stages changed since creation; `up` will recreate the cluster")
    if problems:
        print("UNHEALTHY: " + "; ".join(problems))
        return False
    print("healthy")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_up = sub.add_parser("up", help="create or reuse the cluster (builds binaries if needed)")
    p_up.add_argument("--no-build", action="store_true", help="do not run build-k8s-bins.sh")
    p_up.add_argument("--keep-on-failure", action="store_true", help="leave a cluster that failed to come up")
    sub.add_parser("down", help="delete the cluster")
    sub.add_parser("status", help="show state; exit 0 if healthy")
    sub.add_parser("kubeconfig", help="print the kubeconfig path")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "up":
            # stdout is only the kubeconfig path (progress goes to stderr): KUBECONFIG=$(... up)
            print(up(build=not args.no_build, keep_on_failure=args.keep_on_failure))
        elif args.cmd == "down":
            down()
        elif args.cmd == "status":
            return 0 if status() else 1
        elif args.cmd == "kubeconfig":
            if not KUBECONFIG.is_file():
                log(f"warning: {KUBECONFIG} does not exist yet; run `python3 e2e/cluster.py up`")
            print(KUBECONFIG)
    except ClusterError as exc:
        print(f"[cluster] ERROR: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `cluster.py status | head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
