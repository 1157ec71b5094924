"""`make demo`: a cluster (the configured one, or the local one brought up), the CRD, the operator, a sample run
submitted with `kubectl apply -f examples/hello-run.yaml`, and its progress shown until it ends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "e2e"))
import cluster as local_cluster  # noqa: E402

NAMESPACE = "taskaction-demo"
EXAMPLE = REPO / "examples" / "hello-run.yaml"
TIMEOUT = 180


def kubectl(*args: str, check: bool = True) -> str:
    proc = subprocess.run([KUBECTL, *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        sys.exit(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def configured_cluster() -> bool:
    if not os.environ.get("KUBECONFIG"):
        return False
    return subprocess.run([KUBECTL, "get", "--raw", "/readyz"], capture_output=True).returncode == 0


def terminal(action: dict) -> str | None:
    for cond in action.get("status", {}).get("conditions", []):
        if cond["type"] in ("Succeeded", "Failed") and cond["status"] == "True":
            return cond["type"]
    return None


KUBECTL = str(local_cluster.BIN_DIR / "kubectl") if (local_cluster.BIN_DIR / "kubectl").exists() else "kubectl"


def main() -> int:
    global KUBECTL
    if not configured_cluster():
        print("==> no usable KUBECONFIG: bringing up the local cluster (e2e/cluster.py up)", flush=True)
        subprocess.run([sys.executable, str(REPO / "e2e" / "cluster.py"), "up"], check=True)
        os.environ["KUBECONFIG"] = str(local_cluster.KUBECONFIG)
        KUBECTL = str(local_cluster.BIN_DIR / "kubectl")
    print(f"==> cluster: {os.environ['KUBECONFIG']}")
    print("==> installing the TaskAction CRD")
    kubectl("apply", "-f", str(REPO / "crds" / "taskactions.flyte.org.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/taskactions.flyte.org", "--timeout=60s")
    kubectl("create", "namespace", NAMESPACE, check=False)

    log = Path(tempfile.gettempdir()) / "taskaction-operator-demo.log"
    print(f"==> starting the operator on namespace {NAMESPACE} (log: {log})")
    env = {
        **os.environ,
        "TASKACTION_NAMESPACES": json.dumps([NAMESPACE]),
        "TASKACTION_METRICS_PORT": "0",
        "TASKACTION_HEALTH_PORT": "0",
        # The demo's pods are simulated by kwok and write nothing to storage: there is no error.pb to look for.
        "TASKACTION_READ_OUTPUTS": "false",
        # An Event per phase, so that `kubectl describe` tells the story (a deployment's default: failures only).
        "TASKACTION_KUBE_EVENTS": "all",
    }
    operator = subprocess.Popen([sys.executable, "-m", "taskaction_operator"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        # A previous demo's run goes first; the operator releases its finalizers.
        kubectl("delete", "taskactions", "-n", NAMESPACE, "--all", "--wait=true", "--timeout=60s")
        print(f"==> kubectl apply -f {EXAMPLE.relative_to(REPO)} -n {NAMESPACE}")
        print(kubectl("apply", "-f", str(EXAMPLE), "-n", NAMESPACE), end="")
        deadline = time.monotonic() + TIMEOUT
        previous = ""
        while time.monotonic() < deadline:
            if operator.poll() is not None:
                print(log.read_text()[-4000:])
                return f"the operator exited with {operator.returncode}"
            actions = json.loads(kubectl("get", "taskactions", "-n", NAMESPACE, "-o", "json"))["items"]
            state = json.dumps([(a["metadata"]["name"], a.get("status", {}).get("conditions")) for a in actions])
            if state != previous:
                print(f"\n--- kubectl get taskactions -n {NAMESPACE} -o wide  (+{int(TIMEOUT - (deadline - time.monotonic()))}s)")
                print(kubectl("get", "taskactions", "-n", NAMESPACE, "-o", "wide"), end="", flush=True)
                previous = state
            if actions and all(terminal(a) for a in actions):
                break
            time.sleep(1)
        else:
            return "the run did not finish in time"
        print(f"\n--- kubectl get pods -n {NAMESPACE}")
        print(kubectl("get", "pods", "-n", NAMESPACE), end="")
        print(f"\n--- kubectl describe taskaction hello-train -n {NAMESPACE} (events)")
        print(kubectl("describe", "taskaction", "hello-train", "-n", NAMESPACE).split("Events:")[-1])
        failed = [a["metadata"]["name"] for a in actions if terminal(a) != "Succeeded"]
        if failed:
            return f"failed actions: {failed}"
        print(f"\n--- taskaction tree hello -n {NAMESPACE}")
        subprocess.run([str(Path(sys.executable).parent / "taskaction"), "tree", "hello", "-n", NAMESPACE], check=False)
        print("==> the run succeeded. Delete it (and its pods, by garbage collection) with:")
        print(f"    kubectl delete taskaction hello-a0 -n {NAMESPACE}")
        return 0
    finally:
        operator.terminate()
        operator.wait(timeout=20)


if __name__ == "__main__":
    sys.exit(main())
