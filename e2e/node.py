"""A real node for the local cluster: containerd + runc (Debian) and a kubelet built from the same Go modules and
version as the control plane, joined next to kwok's fake nodes. Used by `e2e/cluster.py up --with-node` / `down`.

    python3 e2e/cluster.py up --with-node   # the cluster, then this node (each step named in the progress)
    python3 e2e/cluster.py down             # the node first (pods, containers, mounts, interfaces), then the cluster

The node is `taskaction-node`, tainted `taskaction.dev/real-node=true:NoSchedule` and labelled
`taskaction.dev/real-node=true`, so only pods that tolerate and select it run there; kwok manages only nodes with
its annotation, never this one.

Network (the machine allows traffic to loopback and to what the tier creates only): the node IP is 203.0.113.10/32
(TEST-NET-3, routed nowhere) on `tanode0`, one end of a veth pair whose other end is in the network namespace
`taskaction-node` the tier creates, because the kubelet refuses a loopback node IP. Traffic to it from the host
stays on the host (a local address). The kubelet serves its API there (the API server's logs/exec go to it); its
health port is on loopback. Pods that are not hostNetwork get a bridge (`tacni0`, 10.245.0.0/24) with no default route
and no masquerading, so they reach nothing but the node and each other; pods that must reach the API server or S3
(which listen on 127.0.0.1) run with hostNetwork.

Paths (under the cache, TASKACTION_CACHE overrides it):
    node/               persistent: containerd's image store (node/containerd), the CNI config
    node/run/           removed by `down`: containerd state and socket, kubelet root, configs, pids
    node/logs/          containerd.log and kubelet.log of the last `up` (kept for reading after a failure)

Stdlib only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "node"
PAUSE_SOURCE = TEMPLATES / "pause.c"

NODE_NAME = "taskaction-node"
TAINT_KEY = "taskaction.dev/real-node"
NODE_LABEL = f"{TAINT_KEY}=true"
NODE_NETNS = "taskaction-node"
NODE_IF = "tanode0"
PEER_IF = "tanode0-peer"
NODE_IP = "203.0.113.10"
BRIDGE = "tacni0"
POD_SUBNET = "10.245.0.0/24"
# The kubelet's ports (API on the node IP, health on 127.0.0.1): not 10250/10248, so a kubelet the machine may
# run otherwise is left alone.
KUBELET_PORT = 10350
HEALTHZ_PORT = 10348
APT_PACKAGES = {"containerd": "containerd", "runc": "runc", "/usr/lib/cni/bridge": "containernetworking-plugins",
                "iptables": "iptables", "buildah": "buildah", "gcc": "gcc", "openssl": "openssl"}
K8S_NAMESPACE = "k8s.io"  # containerd namespace of the CRI plugin: images the kubelet sees live here
READY_TIMEOUT = 120


class NodeError(RuntimeError):
    """A step of bringing the node up (or down) failed; `step` names it."""

    def __init__(self, step: str, message: str):
        super().__init__(f"node step '{step}' failed: {message}")
        self.step = step


class Paths:
    """Where the node keeps everything, under the cluster tool's cache."""

    def __init__(self, cache: Path):
        self.node = cache / "node"
        self.run = self.node / "run"
        self.logs = self.node / "logs"
        self.cni_conf = self.node / "cni"
        self.socket = self.run / "containerd.sock"
        self.containerd_config = self.run / "containerd.toml"
        self.kubelet_config = self.run / "kubelet.yaml"
        self.kubelet_root = self.run / "kubelet"
        self.kubelet_kubeconfig = self.run / "kubelet.kubeconfig"
        self.pids = self.run / "pids"
        self.joined = self.run / "cluster-name"  # the cluster this node is joined to (one node per machine)


def log(msg: str) -> None:
    print(f"[node] {msg}", file=sys.stderr, flush=True)


def sh(step: str, args: list[str], *, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(args, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise NodeError(step, f"timed out after {timeout}s: {' '.join(args)}") from exc
    except FileNotFoundError as exc:
        raise NodeError(step, f"not found: {args[0]}") from exc
    if check and proc.returncode != 0:
        out = (proc.stdout + proc.stderr).decode(errors="replace").strip()[-3000:]
        raise NodeError(step, f"`{' '.join(args)}` exited {proc.returncode}:\n{out}")
    return proc


def render(template: str, **values: str) -> str:
    return string.Template((TEMPLATES / template).read_text()).substitute(**values)


def wait_until(step: str, what: str, probe: Callable[[], str | None], timeout: float, diagnose: Callable[[], str] = lambda: "",
               hopeless: Callable[[], str | None] = lambda: None) -> None:
    """Poll probe() (None = done, else what is still wrong) until done or the time is up; fail at once when
    hopeless() says why waiting cannot help (a daemon exited)."""
    deadline = time.monotonic() + timeout
    problem = probe()
    while problem is not None and time.monotonic() < deadline:
        if (reason := hopeless()) is not None:
            raise NodeError(step, f"{reason}\n{diagnose()}")
        time.sleep(0.5)
        problem = probe()
    if problem is not None:
        raise NodeError(step, f"not {what} after {timeout:.0f}s: {problem}\n{diagnose()}")


def tail(path: Path, lines: int = 25) -> str:
    with contextlib.suppress(OSError):
        return f"--- {path} (last {lines} lines)\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# --------------------------------------------------------------------------- processes


def _cmdline(pid: int) -> list[str]:
    try:
        return [a for a in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0") if a]
    except OSError:
        return []


def node_processes(paths: Paths) -> dict[int, str]:
    """pid -> command of the node's containerd, kubelet and runc shims: those naming one of its paths."""
    marks = (str(paths.run), str(paths.node))
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        cmd = _cmdline(int(entry))
        if cmd and os.path.basename(cmd[0]) in ("containerd", "kubelet", "containerd-shim-runc-v2") \
                and any(m in arg for arg in cmd[1:] for m in marks):
            found[int(entry)] = " ".join(cmd)[:200]
    return found


def start_daemon(step: str, name: str, args: list[str], paths: Paths) -> int:
    """Start a long-running process in its own session, log to node/logs/NAME.log, remember its pid."""
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.pids.mkdir(parents=True, exist_ok=True)
    log_file = paths.logs / f"{name}.log"
    with open(log_file, "wb") as out:
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise NodeError(step, f"cannot start {args[0]}: {exc}") from exc
    (paths.pids / f"{name}.pid").write_text(f"{proc.pid}\n")
    return proc.pid


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_pids(pids: list[int], timeout: float = 20) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    for pid in pids:
        if alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def pid_of(paths: Paths, name: str) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        pid = int((paths.pids / f"{name}.pid").read_text())
        if alive(pid) and pid in node_processes(paths):
            return pid
    return None


# --------------------------------------------------------------------------- steps of `up`


def ensure_packages() -> None:
    missing = sorted({pkg for probe, pkg in APT_PACKAGES.items()
                      if not (Path(probe).exists() if probe.startswith("/") else shutil.which(probe))})
    if not missing:
        return
    log(f"apt-get install {' '.join(missing)}")
    sh("packages", ["apt-get", "update", "-qq"], timeout=300)
    env_args = ["env", "DEBIAN_FRONTEND=noninteractive"]
    sh("packages", [*env_args, "apt-get", "install", "-y", "-qq", *missing], timeout=600)


def ensure_network() -> None:
    """The interface carrying the node IP (the kubelet refuses loopback ones): one end of a veth pair whose other end
    is in a network namespace of our own. (These kernels have no dummy interfaces: no modules, CONFIG_DUMMY unset.)"""
    if sh("network", ["ip", "netns", "pids", NODE_NETNS], check=False).returncode != 0:
        sh("network", ["ip", "netns", "add", NODE_NETNS])
    if sh("network", ["ip", "link", "show", NODE_IF], check=False).returncode != 0:
        sh("network", ["ip", "link", "add", NODE_IF, "type", "veth", "peer", "name", PEER_IF, "netns", NODE_NETNS])
    addrs = sh("network", ["ip", "-o", "-4", "addr", "show", "dev", NODE_IF]).stdout.decode()
    if f" {NODE_IP}/" not in addrs:
        sh("network", ["ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_IF])
    # No IPv6 on the pair: nothing needs it, and link-local autoconfiguration would only add chatter.
    for netns, link in ((None, NODE_IF), (NODE_NETNS, PEER_IF)):
        prefix = ["ip", "netns", "exec", netns] if netns else []
        sh("network", [*prefix, "sysctl", "-q", "-w", f"net.ipv6.conf.{link}.disable_ipv6=1"], check=False)
    sh("network", ["ip", "-n", NODE_NETNS, "link", "set", PEER_IF, "up"])
    sh("network", ["ip", "link", "set", NODE_IF, "up"])


def write_credentials(paths: Paths, pki: Path, apiserver: str) -> None:
    """A client certificate for system:node:<name> (group system:nodes) signed by kwokctl's cluster CA, and a
    kubeconfig with it: the node authenticates as a node, as kubeadm's kubelets do."""
    paths.run.mkdir(parents=True, exist_ok=True)
    key, csr, crt = paths.run / "node.key", paths.run / "node.csr", paths.run / "node.crt"
    ca_crt, ca_key = pki / "ca.crt", pki / "ca.key"
    for f in (ca_crt, ca_key):
        if not f.is_file():
            raise NodeError("credentials", f"kwokctl's PKI has no {f}")
    sh("credentials", ["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                       "-subj", f"/O=system:nodes/CN=system:node:{NODE_NAME}"])
    sh("credentials", ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                       "-CAcreateserial", "-CAserial", str(paths.run / "ca.srl"), "-days", "30", "-out", str(crt)])
    key.chmod(0o600)
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": apiserver, "certificate-authority": str(ca_crt)}}],
        "users": [{"name": NODE_NAME, "user": {"client-certificate": str(crt), "client-key": str(key)}}],
        "contexts": [{"name": "node", "context": {"cluster": "local", "user": NODE_NAME}}],
        "current-context": "node",
    }
    paths.kubelet_kubeconfig.write_text(json.dumps(kubeconfig, indent=1))
    paths.kubelet_kubeconfig.chmod(0o600)


def ctr(paths: Paths, *args: str, step: str = "containerd", timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return sh(step, ["ctr", "--address", str(paths.socket), "--namespace", K8S_NAMESPACE, *args], timeout=timeout, check=check)


def pause_image_name() -> str:
    return f"localhost/taskaction-pause:{hashlib.sha256(PAUSE_SOURCE.read_bytes()).hexdigest()[:12]}"


def start_containerd(paths: Paths) -> None:
    paths.run.mkdir(parents=True, exist_ok=True)
    paths.cni_conf.mkdir(parents=True, exist_ok=True)
    (paths.cni_conf / "10-taskaction-node.conflist").write_text(
        render("cni.conflist", BRIDGE=BRIDGE, POD_SUBNET=POD_SUBNET, RUN_DIR=str(paths.run)))
    paths.containerd_config.write_text(render(
        "containerd.toml", NODE_DIR=str(paths.node), RUN_DIR=str(paths.run), SOCKET=str(paths.socket),
        PAUSE_IMAGE=pause_image_name()))
    if pid_of(paths, "containerd") is None:
        start_daemon("containerd", "containerd", ["containerd", "--config", str(paths.containerd_config)], paths)

    def answers() -> str | None:
        proc = ctr(paths, "version", check=False, timeout=10)
        return None if proc.returncode == 0 else proc.stderr.decode(errors="replace").strip()[-300:]

    wait_until("containerd", "answering", answers, 30, lambda: tail(paths.logs / "containerd.log"),
               hopeless=lambda: None if pid_of(paths, "containerd") else "containerd exited")


def image_present(paths: Paths, image: str, step: str) -> bool:
    return bool(ctr(paths, "images", "ls", "-q", f"name=={image}", step=step).stdout.strip())


def import_image(paths: Paths, image: str, step: str) -> None:
    """A buildah image into containerd's k8s.io namespace (an OCI archive in between; nothing is pulled)."""
    with tempfile.TemporaryDirectory(prefix="node-image-") as tmp:
        archive = Path(tmp) / "image.tar"
        sh(step, ["buildah", "push", "--quiet", image, f"oci-archive:{archive}:{image}"], timeout=300)
        ctr(paths, "images", "import", str(archive), step=step, timeout=300)
    if not image_present(paths, image, step):
        raise NodeError(step, f"{image} is not in containerd's {K8S_NAMESPACE} namespace after the import")


def ensure_pause_image(paths: Paths) -> None:
    """The sandbox image: e2e/node/pause.c linked statically, alone in an image named after its source's hash."""
    image = pause_image_name()
    if image_present(paths, image, "pause-image"):
        return
    with tempfile.TemporaryDirectory(prefix="node-pause-") as tmp:
        binary = Path(tmp) / "pause"
        sh("pause-image", ["gcc", "-static", "-O2", "-o", str(binary), str(PAUSE_SOURCE)])
        container = sh("pause-image", ["buildah", "from", "scratch"]).stdout.decode().strip()
        try:
            sh("pause-image", ["buildah", "copy", "--quiet", container, str(binary), "/pause"])
            sh("pause-image", ["buildah", "config", "--entrypoint", '["/pause"]', "--user", "65535:65535", container])
            sh("pause-image", ["buildah", "commit", "--quiet", container, image])
        finally:
            sh("pause-image", ["buildah", "rm", container], check=False)
    import_image(paths, image, "pause-image")


def start_kubelet(paths: Paths, kubelet: Path, pki: Path) -> None:
    (paths.run / "resolv.conf").write_text("# pods of the real node: no resolver off this machine (e2e/node/kubelet.yaml)\nnameserver 127.0.0.1\n")
    paths.kubelet_config.write_text(render(
        "kubelet.yaml", SOCKET=str(paths.socket), NODE_IP=NODE_IP, KUBELET_PORT=str(KUBELET_PORT),
        HEALTHZ_PORT=str(HEALTHZ_PORT), CA_FILE=str(pki / "ca.crt"), RUN_DIR=str(paths.run)))
    running = pid_of(paths, "kubelet")
    if running is not None:
        stop_pids([running])  # up() found the node not Ready: this kubelet may serve a cluster that was recreated
    start_daemon("kubelet", "kubelet", [
        str(kubelet),
        f"--config={paths.kubelet_config}",
        f"--kubeconfig={paths.kubelet_kubeconfig}",
        f"--root-dir={paths.kubelet_root}",
        f"--cert-dir={paths.run / 'kubelet-pki'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
        f"--node-labels={NODE_LABEL}",
        "--v=2",
    ], paths)


def daemons_gone(paths: Paths) -> str | None:
    for name in ("containerd", "kubelet"):
        if pid_of(paths, name) is None:
            return f"{name} is not running (log: {paths.logs / (name + '.log')})"
    return None


def node_problem(kubectl: Callable[..., subprocess.CompletedProcess], paths: Paths) -> str | None:
    """None when the node is Ready; else why not."""
    if (gone := daemons_gone(paths)) is not None:
        return gone
    proc = kubectl("get", "node", NODE_NAME, "-o", "json", check=False, timeout=10)
    if proc.returncode != 0:
        return f"node {NODE_NAME} not registered ({proc.stderr.strip()[-200:]})"
    conditions = {c["type"]: c for c in json.loads(proc.stdout).get("status", {}).get("conditions", [])}
    ready = conditions.get("Ready")
    if not ready or ready["status"] != "True":
        return f"Ready={ready['status'] if ready else '?'}: {ready.get('message', '') if ready else ''}"
    return None


def joined_cluster(paths: Paths) -> str | None:
    with contextlib.suppress(OSError):
        return paths.joined.read_text().strip()
    return None


def up(*, cache: Path, cluster: str, pki: Path, apiserver: str, kubelet: Path,
       kubectl: Callable[..., subprocess.CompletedProcess]) -> None:
    """Bring the node up on the running cluster named `cluster` (idempotent: a Ready node is left as it is)."""
    paths = Paths(cache)
    other = joined_cluster(paths)
    if other is not None and other != cluster:
        log(f"node {NODE_NAME} is joined to cluster {other}: moving it to {cluster}")
        down(cache)
    if node_problem(kubectl, paths) is None:
        log(f"node {NODE_NAME} already Ready")
        return
    started = time.monotonic()
    steps: list[tuple[str, Callable[[], None]]] = [
        ("packages", ensure_packages),
        ("network", ensure_network),
        ("credentials", lambda: write_credentials(paths, pki, apiserver)),
        ("containerd", lambda: start_containerd(paths)),
        ("pause-image", lambda: ensure_pause_image(paths)),
        ("kubelet", lambda: (start_kubelet(paths, kubelet, pki), paths.joined.write_text(cluster + "\n"))),
        ("node-ready", lambda: wait_until("node-ready", f"Ready (node {NODE_NAME})", lambda: node_problem(kubectl, paths),
                                          READY_TIMEOUT, lambda: tail(paths.logs / "kubelet.log", 40),
                                          hopeless=lambda: daemons_gone(paths))),
    ]
    for name, step in steps:
        t0 = time.monotonic()
        log(f"step {name} ...")
        step()
        log(f"step {name} done ({time.monotonic() - t0:.1f}s)")
    log(f"node {NODE_NAME} Ready at {NODE_IP} in {time.monotonic() - started:.1f}s")


# --------------------------------------------------------------------------- down


def _mounts_under(prefixes: tuple[str, ...]) -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if any(point == p or point.startswith(p + "/") for p in prefixes):
                points.append(point)
    return points


def _kill_pod_processes() -> None:
    """Whatever still runs in the kubelet's pod cgroups (containers whose shim died first)."""
    for root in Path("/sys/fs/cgroup").glob("*/kubepods"):
        for procs in root.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)


def _remove_pod_cgroups() -> None:
    for root in Path("/sys/fs/cgroup").glob("*/kubepods"):
        for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            root.rmdir()


# What the kubelet adds to iptables at start (no kube-proxy runs here, so nothing else makes KUBE-* chains):
# (table, chain, the jumps to it from built-in chains).
KUBELET_CHAINS = (
    ("filter", "KUBE-FIREWALL", ("INPUT", "OUTPUT")),
    ("filter", "KUBE-KUBELET-CANARY", ()),
    ("nat", "KUBE-KUBELET-CANARY", ()),
    ("mangle", "KUBE-KUBELET-CANARY", ()),
    ("mangle", "KUBE-IPTABLES-HINT", ()),
)


def _remove_kubelet_iptables() -> None:
    for tool in ("iptables", "ip6tables"):
        for table, chain, jumps in KUBELET_CHAINS:
            for builtin in jumps:
                while sh("down", [tool, "-t", table, "-D", builtin, "-j", chain], check=False).returncode == 0:
                    pass  # one jump removed per call
            sh("down", [tool, "-t", table, "-F", chain], check=False)
            sh("down", [tool, "-t", table, "-X", chain], check=False)


def down(cache: Path, cluster: str | None = None) -> None:
    """Stop the node: kubelet, every container, containerd, the shims; unmount what they mounted; remove the
    interfaces and the run directory. The image store (node/containerd) stays: the next `up` reuses it.
    With `cluster`, only if the node is joined to that cluster (deleting another cluster leaves it alone)."""
    paths = Paths(cache)
    joined = joined_cluster(paths)
    if cluster is not None and joined is not None and joined != cluster:
        return
    if not paths.run.exists() and not node_processes(paths) and \
            sh("down", ["ip", "netns", "pids", NODE_NETNS], check=False).returncode != 0 and \
            sh("down", ["ip", "link", "show", NODE_IF], check=False).returncode != 0:
        return
    log(f"stopping node {NODE_NAME}")
    kubelet = pid_of(paths, "kubelet")
    if kubelet is not None:
        stop_pids([kubelet])
    if pid_of(paths, "containerd") is not None:
        # Containers first, while containerd can still tell their shims to stop them.
        tasks = ctr(paths, "tasks", "ls", "-q", check=False, step="down").stdout.decode().split()
        for task in tasks:
            ctr(paths, "tasks", "kill", "--signal", "SIGKILL", task, check=False, step="down")
        for task in tasks:
            ctr(paths, "tasks", "delete", "--force", task, check=False, step="down", timeout=30)
    _kill_pod_processes()
    stop_pids(list(node_processes(paths)))
    left = node_processes(paths)
    if left:
        raise NodeError("down", f"processes survive SIGKILL: {left}")
    for point in sorted(_mounts_under((str(paths.run), str(paths.node))), key=len, reverse=True):
        sh("down", ["umount", "-l", point], check=False)
    _remove_pod_cgroups()
    for link in (BRIDGE, NODE_IF):  # deleting one end of the veth pair deletes both
        sh("down", ["ip", "link", "delete", link], check=False)
    sh("down", ["ip", "netns", "delete", NODE_NETNS], check=False)
    _remove_kubelet_iptables()
    # The runc shims' socket directory is fixed (/run/containerd/s); removed only if nothing else left a socket there.
    for directory in ("/run/containerd/s", "/run/containerd"):
        with contextlib.suppress(OSError):
            os.rmdir(directory)
    shutil.rmtree(paths.run, ignore_errors=True)
    log(f"node {NODE_NAME} stopped; no process left")
