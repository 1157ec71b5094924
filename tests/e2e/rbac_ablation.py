"""Which rule of the chart's RBAC is needed for what: remove one verb at a time from the installed Roles, run the
operator with the chart's ServiceAccount through the e2e scenario, and print the first 403 it logs (or that nothing
was refused). Not a test (about 10 minutes); the evidence behind the RBAC table of charts/taskaction-operator/README.md.

    KUBECONFIG=... .venv/bin/python -m tests.e2e.rbac_ablation ["taskactions get" ...]   # only these verbs
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


from taskaction_operator.client.manifests import container_template, taskaction
from tests.e2e.helm import CHART, CRD_NOT_INSTALLED, Helm, install_helm
from tests.support.kube import Kube, progressing_reason
from tests.support.local_cluster import cluster as local_cluster
from tests.support.operator_process import OperatorProcess
from tests.support.waiting import WaitTimedOut, wait_until

OUTCOME = "sim.taskaction.dev/outcome"
DENIED = re.compile(r"[Ff]orbidden|Not enough permissions")  # a 403 is logged "403 Forbidden"; bare digits are in timestamps


def _wait(kube: Kube, kind: str, name: str, ns: str, pred: Any, timeout: float, log: Path) -> str | None:
    """None when pred held; else why it did not (a 403 in the log ends the wait at once)."""

    def held_or_refused() -> str | None:
        if pred(kube.get(kind, name, ns)):
            return "held"
        return "refused" if DENIED.search(log.read_text(errors="replace")) else None

    try:
        outcome = wait_until(held_or_refused, timeout, f"{kind} {name}")
    except WaitTimedOut:
        return f"{kind} {name} timed out"
    return None if outcome == "held" else outcome


def scenario(kube: Kube, config: Path, env: dict[str, str], work_ns: str, log: Path) -> str | None:
    operator = OperatorProcess(str(config), [work_ns], log, env)
    operator.start()
    try:
        for run, outcome, retries in (("ok", "succeed", 0), ("retry", "fail", 1), ("long", "running", 0)):
            kube.create(taskaction(container_template("busybox", ["true"], retries=retries), run=run, namespace=work_ns, labels={OUTCOME: outcome}))
        kube.create(taskaction(container_template("busybox", ["true"]), run="orphan", action="c1", parent="a0", namespace=work_ns))
        failed = _wait(kube, "taskaction", "orphan-c1", work_ns, lambda o: progressing_reason(o) == "Queued", 20, log)
        failed = failed or _wait(kube, "taskaction", "long-a0", work_ns, lambda o: progressing_reason(o) == "Executing", 40, log)
        if not failed:
            first = kube.get("pod", "long-a0-0", work_ns)
            kube.delete("pod", "long-a0-0", work_ns)
            failed = _wait(kube, "pod", "long-a0-0", work_ns, lambda o: o is not None and o["metadata"]["uid"] != first["metadata"]["uid"], 30, log)
        if not failed:
            kube.delete("taskaction", "long-a0", work_ns)
            failed = _wait(kube, "taskaction", "long-a0", work_ns, lambda o: o is None, 30, log)
        for name in ("ok-a0", "retry-a0"):
            failed = failed or _wait(kube, "taskaction", name, work_ns, lambda o: o is None, 40, log)
        return failed
    finally:
        operator.stop()
        for ta in kube.list("taskactions", work_ns):
            kube.run("patch", "taskaction", ta["metadata"]["name"], "-n", work_ns, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
        kube.run("delete", "taskactions,pods", "--all", "-n", work_ns, "--wait=true", "--timeout=60s", check=False)
        kube.run("delete", "lease", "taskaction-operator", "-n", env["POD_NAMESPACE"], "--ignore-not-found", check=False)


def main() -> int:
    kubeconfig = os.environ.get("KUBECONFIG") or str(local_cluster.KUBECONFIG)
    kube = Kube(kubeconfig, str(local_cluster.BIN_DIR / "kubectl"))
    kube.apply_file(CHART.parents[1] / "crds" / "taskactions.flyte.org.yaml")
    tmp = Path(tempfile.mkdtemp(prefix="rbac-ablation-"))
    helm = Helm(install_helm(), kubeconfig, tmp / "helm")
    suffix = uuid.uuid4().hex[:8]
    op_ns, work_ns, release = f"abl-op-{suffix}", f"abl-work-{suffix}", f"abl-{suffix}"
    for ns in (op_ns, work_ns):
        kube.run("create", "namespace", ns)
    try:
        helm.run("install", release, str(CHART), "-n", op_ns, *CRD_NOT_INSTALLED, "--set", f"watchNamespaces={{{work_ns}}}",
                 "--set", "leaderElection.enabled=true", "--set", "podTemplates.defaultName=base")  # fmt: skip
        kube.create({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "base", "namespace": op_ns},
                     "template": {"spec": {"containers": [{"name": "default", "image": "unused"}]}}})  # fmt: skip
        account = f"{release}-taskaction-operator"
        from tests.e2e.test_rbac import local_operator_env, sa_kubeconfig

        config = sa_kubeconfig(kube, op_ns, account, tmp / "sa.kubeconfig")
        env = {**local_operator_env(helm, release, op_ns, "ablation"), "TASKACTION_GC_INTERVAL_SECONDS": "2", "TASKACTION_GC_TTL_SECONDS": "0"}
        roles = [("role", account, work_ns), ("role", f"{account}-leader-election", op_ns),
                 ("role", f"{account}-podtemplates", op_ns)]  # fmt: skip

        results = []
        baseline = scenario(kube, config, env, work_ns, tmp / "baseline.log")
        results.append(("(nothing removed)", baseline or "ok", _first_denied(tmp / "baseline.log")))
        for kind, name, ns in roles:
            args = ["-n", ns] if ns else []
            original = json.loads(kube.run("get", kind, name, *args, "-o", "json").stdout)
            for i, rule in enumerate(original["rules"]):
                for verb in rule["verbs"]:
                    label = f"{'/'.join(rule['resources'])} {verb} ({kind} {name.removeprefix(account) or 'main'})"
                    if sys.argv[1:] and not any(label.startswith(only) for only in sys.argv[1:]):
                        continue
                    ablated = json.loads(kube.run("get", kind, name, *args, "-o", "json").stdout)
                    ablated["rules"] = copy.deepcopy(original["rules"])
                    ablated["rules"][i]["verbs"] = [v for v in rule["verbs"] if v != verb]
                    ablated["rules"] = [r for r in ablated["rules"] if r["verbs"]]
                    kube.run("replace", "-f", "-", input=json.dumps(ablated))
                    time.sleep(1)
                    log = tmp / f"{len(results)}.log"
                    outcome = scenario(kube, config, env, work_ns, log)
                    results.append((label, outcome or "ok", _first_denied(log)))
                    print(f"{label}: {outcome or 'ok'} | {results[-1][2]}", file=sys.stderr, flush=True)
                    restored = json.loads(kube.run("get", kind, name, *args, "-o", "json").stdout)
                    restored["rules"] = original["rules"]
                    kube.run("replace", "-f", "-", input=json.dumps(restored))
                    time.sleep(1)
        print("\n| verb removed | scenario | first refusal in the operator's log |\n|---|---|---|")
        for label, outcome, denied in results:
            print(f"| {label} | {outcome} | {denied} |")
        return 0
    finally:
        helm.run("uninstall", release, "-n", op_ns, check=False)
        kube.run("delete", "namespace", op_ns, work_ns, "--wait=false", check=False)


def _first_denied(log: Path) -> str:
    for line in log.read_text(errors="replace").splitlines():
        if DENIED.search(line):
            m = re.search(r"(GET|POST|PATCH|PUT|DELETE) (\S+)", line)
            where = f"{m.group(1)} {re.sub(r'https?://[^/]+', '', m.group(2))}" if m else ""
            reason = re.search(r"cannot (\w+) resource \"([^\"]+)\"( in API group \"[^\"]*\")?", line)
            return f"{where} {reason.group(0) if reason else line[20:160]}".strip()
    return "none"


if __name__ == "__main__":
    sys.exit(main())
