"""`make bench`: how fast the operator turns TaskActions into pods and finished actions, against the raw limit.

Creates N TaskActions at once (default 1000) in a fresh namespace of the local cluster, with pods that kwok moves to
Succeeded quickly, and prints: time until every pod exists, time until every TaskAction is Succeeded, actions/s,
p50/p99 of create -> pod-created latency, the operator's peak RSS and CPU seconds. Then it creates the same number of
equivalent pods directly with a plain async client (the raw limit) and prints the ratio operator/raw. Figures go to
e2e/bench/results/latest.json and docs/benchmarks.md. A program that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil
from kubernetes_asyncio import client, config, watch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))
import cluster as local_cluster  # noqa: E402
import doc  # noqa: E402  (e2e/bench/doc.py)

from taskaction_operator.client.manifests import container_template, taskaction  # noqa: E402
from taskaction_operator.reconcile.task import validate  # noqa: E402
from taskaction_operator.pods.builder import build_pod  # noqa: E402
from taskaction_operator.settings import Settings  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
SIM = {"sim.taskaction.dev/outcome": "succeed"}
DELAY = {"sim.taskaction.dev/delay": "1s"}


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


class ProcessSampler(threading.Thread):
    """Peak RSS of a process, sampled every 100 ms."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.peak_rss = 0
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            self._stop.wait(0.1)

    def cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        self._stop.set()


async def create_all(objects: list[dict], create, concurrency: int) -> dict[str, float]:
    """Create every object, at most `concurrency` at a time; returns name -> time the create was sent."""
    sent: dict[str, float] = {}
    semaphore = asyncio.Semaphore(concurrency)

    async def one(obj: dict) -> None:
        async with semaphore:
            sent[obj["metadata"]["name"]] = time.monotonic()
            await create(obj)

    await asyncio.gather(*(one(o) for o in objects))
    return sent


async def watch_objects(list_fn, *args, on_event) -> None:
    """Follow a watch until on_event says stop; a broken stream (expired version, dropped connection) is reopened."""
    while True:
        stream = watch.Watch()
        try:
            async with stream:
                async for event in stream.stream(list_fn, *args, timeout_seconds=300):
                    if event["type"] == "ERROR":
                        break
                    if on_event(event["object"]):
                        return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 (reopen on any stream failure, say so)
            print(f"watch reopened after: {exc!r}", flush=True)


async def watch_pods(
    core: client.CoreV1Api, namespace: str, expected: int, seen: dict[str, float], succeeded: dict[str, float], done: asyncio.Event
) -> None:
    def on_pod(pod) -> bool:
        seen.setdefault(pod.metadata.name, time.monotonic())
        if pod.status and pod.status.phase == "Succeeded":
            succeeded.setdefault(pod.metadata.name, time.monotonic())
        return len(succeeded) >= expected

    await watch_objects(core.list_namespaced_pod, namespace, on_event=on_pod)
    done.set()


async def watch_taskactions(custom: client.CustomObjectsApi, namespace: str, expected: int, finished: dict[str, float], done: asyncio.Event) -> None:
    def on_taskaction(obj: dict) -> bool:
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond["type"] == "Succeeded" and cond["status"] == "True":
                finished.setdefault(obj["metadata"]["name"], time.monotonic())
        return len(finished) >= expected

    await watch_objects(custom.list_namespaced_custom_object, "flyte.org", "v1", namespace, "taskactions", on_event=on_taskaction)
    done.set()


def kubectl(*args: str) -> None:
    subprocess.run([str(local_cluster.BIN_DIR / "kubectl"), *args], check=True, capture_output=True, text=True)


async def run_operator_phase(api: client.ApiClient, namespace: str, count: int, concurrency: int, timeout: float) -> dict:
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    template = container_template("busybox", ["true"], cpu="10m", memory="16Mi")
    objects = [taskaction(template, run=f"b{i:05d}", namespace=namespace, labels=SIM, annotations=DELAY) for i in range(count)]
    env = {
        **os.environ,
        "TASKACTION_NAMESPACES": json.dumps([namespace]),
        "TASKACTION_METRICS_PORT": "0",
        "TASKACTION_HEALTH_PORT": "0",
        # kwok's pods write nothing; the raw phase reads nothing either.
        "TASKACTION_READ_OUTPUTS": "false",
    }
    log = open(REPO / "e2e" / "bench" / "results" / "operator.log", "w")  # noqa: SIM115
    operator = subprocess.Popen([sys.executable, "-m", "taskaction_operator"], env=env, stdout=log, stderr=subprocess.STDOUT)
    sampler = ProcessSampler(operator.pid)
    sampler.start()
    await asyncio.sleep(3)  # the operator's watches are established
    cpu_before = sampler.cpu_seconds()
    seen: dict[str, float] = {}
    succeeded_pods: dict[str, float] = {}
    finished: dict[str, float] = {}
    pods_done, tas_done = asyncio.Event(), asyncio.Event()
    watchers = [
        asyncio.create_task(watch_pods(core, namespace, count, seen, succeeded_pods, pods_done)),
        asyncio.create_task(watch_taskactions(custom, namespace, count, finished, tas_done)),
    ]
    await asyncio.sleep(1)
    started = time.monotonic()
    sent = await create_all(
        objects, lambda o: custom.create_namespaced_custom_object("flyte.org", "v1", namespace, "taskactions", o), concurrency
    )
    created = time.monotonic()
    try:
        await asyncio.wait_for(tas_done.wait(), timeout)
    finally:
        for task in watchers:
            task.cancel()
    cpu = sampler.cpu_seconds() - cpu_before
    sampler.stop()
    latencies = [seen[f"{o['metadata']['name']}-0"] - sent[o["metadata"]["name"]] for o in objects]
    result = {
        "actions": count,
        "create_seconds": round(created - started, 2),
        "all_pods_exist_seconds": round(max(seen.values()) - started, 2),
        "all_succeeded_seconds": round(max(finished.values()) - started, 2),
        "actions_per_second": round(count / (max(finished.values()) - started), 1),
        "pod_created_latency_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "pod_created_latency_p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "operator_peak_rss_mib": round(sampler.peak_rss / 2**20, 1),
        "operator_cpu_seconds": round(cpu, 2),
    }
    return {"result": result, "operator": operator, "log": log}


async def run_raw_phase(api: client.ApiClient, namespace: str, count: int, concurrency: int, timeout: float) -> dict:
    """The same pods, created straight from a plain async client: what the API server and kwok allow at best."""
    core = client.CoreV1Api(api)
    settings = Settings()
    template = container_template("busybox", ["true"], cpu="10m", memory="16Mi")
    pods = []
    for i in range(count):
        body = taskaction(template, run=f"r{i:05d}", namespace=namespace, labels=SIM, annotations=DELAY)
        body["metadata"]["uid"] = str(uuid.uuid4())
        ta, decoded = validate(body)
        pod = build_pod(ta, decoded, 1, settings)
        pod["metadata"].pop("ownerReferences")
        pods.append(pod)
    seen: dict[str, float] = {}
    succeeded: dict[str, float] = {}
    done = asyncio.Event()
    watcher = asyncio.create_task(watch_pods(core, namespace, count, seen, succeeded, done))
    await asyncio.sleep(1)
    started = time.monotonic()
    sent = await create_all(pods, lambda p: core.create_namespaced_pod(namespace, p), concurrency)
    try:
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        watcher.cancel()
    latencies = [seen[name] - t for name, t in sent.items()]
    return {
        "all_pods_exist_seconds": round(max(seen.values()) - started, 2),
        "all_succeeded_seconds": round(max(succeeded.values()) - started, 2),
        "pod_created_latency_p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "pod_created_latency_p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


def write_doc(report: dict) -> None:
    op, raw, ratio = report["operator"], report["raw"], report["ratio_operator_over_raw"]
    doc.replace_head(
        f"""# Benchmarks

Latest `make bench` ({report['date']}, {report['machine']}; local kwok cluster, {op['actions']} TaskActions created at
once with {report['create_concurrency']} concurrent creates, pods moved to Succeeded by kwok after 1 s).
Produced by `e2e/bench/bench.py`; raw figures in `e2e/bench/results/latest.json` (not committed).

| figure | operator | raw pods (plain async client) |
|---|---|---|
| all pods exist after | {op['all_pods_exist_seconds']} s | {raw['all_pods_exist_seconds']} s |
| all actions Succeeded after | {op['all_succeeded_seconds']} s | (pods Succeeded: {raw['all_succeeded_seconds']} s) |
| throughput | {op['actions_per_second']} actions/s | |
| create -> pod created, p50 / p99 | {op['pod_created_latency_p50_ms']} / {op['pod_created_latency_p99_ms']} ms | {raw['pod_created_latency_p50_ms']} / {raw['pod_created_latency_p99_ms']} ms |
| operator peak RSS | {op['operator_peak_rss_mib']} MiB | |
| operator CPU | {op['operator_cpu_seconds']} s | |

Ratio operator / raw, time until every pod exists: **{ratio}** (1.0 would be the raw limit).
"""
    )


async def main(count: int, concurrency: int, timeout: float) -> int:
    if not os.environ.get("KUBECONFIG"):
        subprocess.run([sys.executable, str(REPO / "e2e" / "cluster.py"), "up"], check=True)
        os.environ["KUBECONFIG"] = str(local_cluster.KUBECONFIG)
    kubectl("apply", "-f", str(REPO / "crds" / "taskactions.flyte.org.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/taskactions.flyte.org", "--timeout=60s")
    await config.load_kube_config()
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = concurrency
    suffix = uuid.uuid4().hex[:6]
    op_ns, raw_ns = f"ta-bench-{suffix}", f"ta-bench-raw-{suffix}"
    for ns in (op_ns, raw_ns):
        kubectl("create", "namespace", ns)
        for _ in range(100):
            if subprocess.run([str(local_cluster.BIN_DIR / "kubectl"), "get", "sa", "default", "-n", ns], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
    async with client.ApiClient(configuration) as api:
        print(f"operator phase: {count} TaskActions in {op_ns} ...", flush=True)
        phase = await run_operator_phase(api, op_ns, count, concurrency, timeout)
        op = phase["result"]
        print(json.dumps(op, indent=1), flush=True)
        print("cleaning up the operator phase (the operator releases its finalizers) ...", flush=True)
        # The namespace controller deletes the actions as a collection; the operator, still running, lets them go.
        kubectl("delete", "namespace", op_ns, "--wait=true", "--timeout=600s")
        phase["operator"].terminate()
        phase["operator"].wait(timeout=30)
        phase["log"].close()
        print(f"raw phase: {count} pods in {raw_ns} ...", flush=True)
        raw = await run_raw_phase(api, raw_ns, count, concurrency, timeout)
        print(json.dumps(raw, indent=1), flush=True)
        kubectl("delete", "namespace", raw_ns, "--wait=false")
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {round(psutil.virtual_memory().total / 2**30)} GiB",
        "create_concurrency": concurrency,
        "operator": op,
        "raw": raw,
        "ratio_operator_over_raw": round(op["all_pods_exist_seconds"] / raw["all_pods_exist_seconds"], 2),
    }
    RESULTS.write_text(json.dumps(report, indent=1))
    write_doc(report)
    print(f"ratio operator/raw (all pods exist): {report['ratio_operator_over_raw']}")
    print(f"written: {RESULTS.relative_to(REPO)}, {doc.DOC.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--count", type=int, default=int(os.environ.get("BENCH_COUNT", 1000)))
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.count, args.concurrency, args.timeout)))
