"""`make bench`: taskaction-operator against raw pods and the upstream Go executor, the same work for each.

    python e2e/bench/bench.py                          # raw pods and the operator
    GO_EXECUTOR=~/.cache/flyte-upstream/bin/executor python e2e/bench/bench.py    # ... and the Go executor
    python e2e/bench/bench.py --high-rate 100 --profile --memory 10000 --keep-cluster

Runs on a kwok cluster of its own (`kwokctl --name bench`, e2e/cluster.py with TASKACTION_CLUSTER_NAME), so the
shared test cluster is not disturbed, and deletes it at the end (`--keep-cluster` keeps it). SeaweedFS serves S3.
Every action is a TaskAction of a real flyte 2.12.1 task (e2e/bench/workload.py) whose outputs.pb is written first at
its sharded output prefix, so the executor reads outputs as in production. Each side runs, one after the other:

- at once: `--count` (1000) actions created together, at most `--concurrency` (50) creates in flight;
- steady: `--rate` (20) actions a second for `--seconds` (30);
- steady, faster: `--high-rate` (50) actions a second for the same `--seconds` (0 leaves it out).

Raw pods are the operator's own pods created by the bench with a plain async client: what the API server and kwok
allow at best. Timings come from watches opened before the first create: create (the create request answered) ->
pod (its first watch event) and create -> Succeeded (the TaskAction's condition; for raw pods, the pod's phase).
CPU seconds and peak RSS are the executor process's (psutil); the cluster's components' CPU and the machine's busy
cores over the phase tell whether the machine itself was full (e2e/bench/machine_cpu.py); API writes are the API server's own
`apiserver_request_total` (every verb but GET/LIST/WATCH), before and after each phase, by resource and verb.

`--memory N`: afterwards, the operator (watching every namespace) with N finished TaskActions, then with
`--unrelated-pods` (20000) pods in another namespace that are none of its own; slow, so off unless asked.
`--memory-only`: that figure alone, added to the last results (e2e/bench/results/latest.json).
`--profile`: one more steady phase with the operator under py-spy (flamegraph SVG and top functions).

Results: e2e/bench/results/latest.json and latest.png (the latency plot), and the first part of
docs/benchmarks.md. A program that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CLUSTER_NAME = "bench"
sys.path.insert(0, str(REPO / "e2e"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))
os.environ.setdefault("TASKACTION_CLUSTER_NAME", CLUSTER_NAME)

import psutil  # noqa: E402
from kubernetes_asyncio import client, config  # noqa: E402

import apiwrites  # noqa: E402
import cluster  # noqa: E402  (e2e/cluster.py, for the cluster named above)
import doc  # noqa: E402
import executors  # noqa: E402
import machine_cpu  # noqa: E402
import plot  # noqa: E402
import spy  # noqa: E402
import report  # noqa: E402
import workload  # noqa: E402
from timeline import Timeline, create_at_once, create_steadily, watching  # noqa: E402

from taskaction_operator.settings import Settings  # noqa: E402
from tests.support.seaweedfs import running_seaweedfs  # noqa: E402

GROUP, VERSION, PLURAL = "flyte.org", "v1", "taskactions"
CREATE_TIMEOUT = 120  # seconds; the API server answers 504 after 60 s
SETTLE_SECONDS = 2.0  # writes unchanged this long after the last action finished: the phase is over


class Bench:
    def __init__(self, args: argparse.Namespace, api: client.ApiClient, work: workload.Workload, storage: dict[str, str]):
        self.args, self.api, self.work, self.storage = args, api, work, storage
        self.core, self.custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        self.machine = machine_cpu.MachineCpu(cluster.cluster_processes())

    # --- the cluster

    def kubectl(self, *args: str, timeout: float = 60) -> str:
        return cluster.kubectl(*args, timeout=timeout).stdout

    def writes_now(self):
        return apiwrites.parse(self.kubectl("get", "--raw", "/metrics"))

    async def settled_writes(self):
        """The API server's write counts once they stopped moving (trailing status writes and Events included)."""
        previous = await asyncio.to_thread(self.writes_now)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await asyncio.sleep(SETTLE_SECONDS)
            current = await asyncio.to_thread(self.writes_now)
            if apiwrites.without_heartbeats(current) == apiwrites.without_heartbeats(previous):
                return current
            previous = current
        return previous

    async def namespaces(self, names: list[str]) -> None:
        for name in names:
            await asyncio.to_thread(self.kubectl, "create", "namespace", name)
        for name in names:  # pods need the namespace's default ServiceAccount
            while True:
                try:
                    await self.core.read_namespaced_service_account("default", name)
                    break
                except client.ApiException:
                    await asyncio.sleep(0.2)

    async def delete_namespaces(self, names: list[str]) -> None:
        """Gone before the next side starts, while this side's executor still runs (it releases its finalizers)."""
        started = time.monotonic()
        await asyncio.to_thread(self.kubectl, "delete", "namespace", *names, "--wait=true", "--timeout=900s", timeout=960)
        print(f"  namespaces {', '.join(names)} deleted in {time.monotonic() - started:.1f} s", flush=True)

    # --- creates

    async def create_taskaction(self, body: dict) -> None:
        await answered(self.custom.create_namespaced_custom_object(
            GROUP, VERSION, body["metadata"]["namespace"], PLURAL, body, _preload_content=False, _request_timeout=CREATE_TIMEOUT
        ))

    async def create_pod(self, body: dict) -> None:
        await answered(self.core.create_namespaced_pod(
            body["metadata"]["namespace"], body, _preload_content=False, _request_timeout=CREATE_TIMEOUT
        ))

    def watches(self, namespace: str, timeline: Timeline, taskactions: bool) -> list:
        watches = [(lambda **kw: self.core.list_namespaced_pod(namespace, **kw), timeline.saw_pod)]
        if taskactions:
            watches.append(
                (lambda **kw: self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, **kw), timeline.saw_taskaction)
            )
        return watches

    # --- one phase

    async def phase(self, side: str, executor: executors.Executor | None, namespace: str, rate: float | None,
                    count: int, profiled: bool = False, timeout: float | None = None) -> dict[str, Any]:
        raw = executor is None
        if raw:
            bodies = self.work.raw_pods(namespace, "r", count, Settings())
            create, bench_creates = self.create_pod, "pods POST"
        else:
            bodies = self.work.taskactions(namespace, "b", count)
            await self.work.write_outputs(bodies)
            create, bench_creates = self.create_taskaction, "taskactions POST"
        timeline = Timeline(expected=count, succeeds_by_pod=raw)
        watchers = await watching(self.watches(namespace, timeline, taskactions=not raw))
        before = await asyncio.to_thread(self.writes_now)
        cpu_at_start = self.machine.snapshot()
        cpu_before = executor.sampler.cpu_seconds() if executor else 0.0
        if executor:
            executor.sampler.reset_peak()
        profiler = spy.Profile(executor.pid, RESULTS) if profiled else None
        try:
            if rate is None:
                await create_at_once(bodies, create, timeline, self.args.concurrency)
            else:
                await create_steadily(bodies, create, timeline, rate)
            try:
                await asyncio.wait_for(timeline.complete.wait(), timeout or self.args.timeout)
            except TimeoutError:
                print(f"  TIMED OUT: {len(timeline.succeeded)}/{count} Succeeded after {timeout or self.args.timeout:.0f} s", flush=True)
            cpu_when_done = self.machine.snapshot()
            after = await self.settled_writes()
            cpu_when_settled = self.machine.snapshot()
        finally:
            for task in watchers:
                task.cancel()
        figures = timeline_figures(timeline)
        writes = apiwrites.difference(before, after)
        mine = apiwrites.by_executor(writes, bench_creates)
        figures.update(
            api_writes=writes,
            api_writes_per_action=round(sum(writes.values()) / count, 2),
            executor_writes=mine,
            executor_writes_per_action=round(sum(mine.values()) / count, 2),
            series=timeline.series(),
            **machine_cpu.figures(cpu_at_start, cpu_when_done, cpu_when_settled, count, psutil.cpu_count() or 1),
        )
        if executor:
            cpu = executor.sampler.cpu_seconds() - cpu_before
            figures.update(cpu_seconds=round(cpu, 2), cpu_ms_per_action=round(1000 * cpu / count, 2),
                           peak_rss_mib=round(executor.sampler.peak_rss / 2**20, 1))
        if profiler:
            files = profiler.finish()
            figures["profile"] = [str(p.relative_to(REPO)) for p in files]
            figures["profile_top"] = profiler.top.read_text()
        print(f"  {side} {'at once' if rate is None else f'{rate:g}/s'}: {report.one_line(figures)}", flush=True)
        return figures

    # --- one side

    async def side(self, side: str, executor: executors.Executor | None) -> dict[str, Any]:
        names = {kind: f"bench-{side}-{kind}" for kind in ("warmup", "burst", "steady", "high", "profiled")}
        wanted = ["burst", "steady"] + (["high"] if self.args.high_rate else [])
        wanted += ["profiled"] if self.args.profile and side == "operator" else []
        if executor:
            wanted.insert(0, "warmup")
        namespaces = [names[k] for k in wanted]
        await self.namespaces(namespaces)
        result: dict[str, Any] = {}
        try:
            if executor:
                executor.start(cluster.KUBECONFIG, namespaces, self.storage)
                # One action first: the executor's watches are open and its storage client is made.
                await self.phase(side, executor, names["warmup"], None, 1)
            print(f"{side}: {self.args.count} at once", flush=True)
            result["burst"] = await self.phase(side, executor, names["burst"], None, self.args.count)
            steady_count = int(self.args.rate * self.args.seconds)
            print(f"{side}: {self.args.rate:g}/s for {self.args.seconds:g} s", flush=True)
            result["steady"] = await self.phase(side, executor, names["steady"], self.args.rate, steady_count)
            if "high" in wanted:
                print(f"{side}: {self.args.high_rate:g}/s for {self.args.seconds:g} s", flush=True)
                result["high"] = await self.phase(side, executor, names["high"], self.args.high_rate,
                                                  int(self.args.high_rate * self.args.seconds))
            if "profiled" in wanted:
                print(f"{side}: {self.args.rate:g}/s for {self.args.seconds:g} s under py-spy", flush=True)
                result["profiled"] = await self.phase(side, executor, names["profiled"], self.args.rate, steady_count, profiled=True)
            await self.delete_namespaces(namespaces)
        finally:
            if executor:
                executor.stop()
        return result

    # --- memory

    async def memory(self) -> dict[str, Any]:
        """RSS of the operator (watching every namespace) with N finished TaskActions, then with unrelated pods."""
        actions_ns, pods_ns = "bench-memory", "bench-unrelated"
        await self.namespaces([actions_ns, pods_ns])
        operator = executors.Operator(RESULTS / "operator-memory.log").start(cluster.KUBECONFIG, [], self.storage)
        try:
            count = self.args.memory
            print(f"memory: {count} TaskActions at once", flush=True)
            burst = await self.phase("operator", operator, actions_ns, None, count, timeout=self.args.memory_timeout)
            live_peak = operator.sampler.peak_rss
            live = await settled_rss(operator.sampler)
            print(f"memory: {self.args.unrelated_pods} unrelated pods in {pods_ns}", flush=True)
            nodes = [n["metadata"]["name"] for n in json.loads(self.kubectl("get", "nodes", "-o", "json"))["items"]]
            unrelated = [unrelated_pod(pods_ns, i, nodes[i % len(nodes)]) for i in range(self.args.unrelated_pods)]
            operator.sampler.reset_peak()
            started = time.monotonic()
            await workload.gather_bounded([self.create_pod(p) for p in unrelated], self.args.concurrency)
            created_in = time.monotonic() - started
            with_pods = await settled_rss(operator.sampler)
            result = {
                "actions": count,
                "all_succeeded_seconds": burst["all_succeeded_seconds"],
                "succeeded": burst["succeeded"],
                "peak_rss_mib_while_running": round(live_peak / 2**20, 1),
                "rss_mib_finished": round(live / 2**20, 1),
                "unrelated_pods": len(unrelated),
                "unrelated_pods_created_seconds": round(created_in, 1),
                "peak_rss_mib_with_unrelated_pods": round(operator.sampler.peak_rss / 2**20, 1),
                "rss_mib_with_unrelated_pods": round(with_pods / 2**20, 1),
            }
            result["rss_with_over_without_unrelated_pods"] = round(with_pods / live, 2)
            result.update(date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), command=command_line(),
                          load_average=machine()["load_average"])
            print(f"  memory: {json.dumps(result)}", flush=True)
            return result
        finally:
            operator.stop()


async def settled_rss(sampler: executors.Sampler) -> int:
    """RSS once it stopped growing by more than 1 % over 5 s (bounded at 60 s)."""
    previous = sampler.rss()
    for _ in range(12):
        await asyncio.sleep(5)
        current = sampler.rss()
        if current <= previous * 1.01:
            return current
        previous = current
    return previous


def unrelated_pod(namespace: str, index: int, node: str) -> dict:
    """A pod bound to a kwok node by name (no scheduling), not the operator's: no flyte.org/managed label."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"unrelated-{index:05d}", "namespace": namespace, "labels": {"app": "unrelated"}},
        "spec": {"nodeName": node, "containers": [{"name": "main", "image": "busybox", "resources": {"requests": {"cpu": "1m"}}}]},
    }


async def answered(request) -> None:
    """A create's response, unread (the bench spends no CPU decoding it); an error is raised, as the client would."""
    response = await request
    try:
        if response.status >= 300:
            raise RuntimeError(f"create answered {response.status}: {(await response.text())[:500]}")
    finally:
        response.release()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def timeline_figures(timeline: Timeline) -> dict[str, Any]:
    def ms(values: list[float], pct: float) -> float | None:
        return round(1000 * percentile(values, pct)) if values else None

    pods, done = timeline.pod_latencies(), timeline.succeeded_latencies()
    runs, after_pod = timeline.pod_run_latencies(), timeline.pod_to_action_latencies()
    return {
        "actions": timeline.expected,
        "succeeded": len(timeline.succeeded),
        "all_pods_exist_seconds": round(max(timeline.pod.values()) - timeline.started, 2) if timeline.pod else None,
        "all_succeeded_seconds": round(max(timeline.succeeded.values()) - timeline.started, 2) if timeline.succeeded else None,
        "create_to_pod_ms": {"p50": ms(pods, 50), "p99": ms(pods, 99)},
        "create_to_succeeded_ms": {"p50": ms(done, 50), "p99": ms(done, 99),
                                   "mean": round(1000 * statistics.fmean(done)) if done else None},
        "pod_to_pod_succeeded_ms": {"p50": ms(runs, 50), "p99": ms(runs, 99)},
        "pod_succeeded_to_succeeded_ms": {"p50": ms(after_pod, 50), "p99": ms(after_pod, 99)},
        **{f"{stage}_ms": {"p50": ms(values, 50), "p99": ms(values, 99)} for stage, values in timeline.stage_latencies().items()},
        "pod_writes_while_running_per_pod": round(timeline.writes_while_running / max(1, len(timeline.running)), 2),
        "pod_writers_while_running": dict(timeline.running_writers.most_common()),
    }


def machine() -> dict[str, Any]:
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {round(psutil.virtual_memory().total / 2**30)} GiB",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


async def run(args: argparse.Namespace, s3: Any) -> dict[str, Any]:
    loads = {"start": machine()["load_average"]}
    fs = s3.s3fs(asynchronous=True)
    await fs.set_session()
    storage = {"endpoint": s3.endpoint, "access_key": s3.access_key, "secret_key": s3.secret_key, "bucket": s3.bucket}
    work = workload.Workload(workload.task_template(s3.bucket), s3.bucket, fs, await workload.outputs_pb())
    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(cluster.KUBECONFIG), client_configuration=configuration)
    configuration.connection_pool_maxsize = max(args.concurrency, 100)
    try:
        return await measure(args, configuration, work, storage, loads)
    finally:
        await fs._s3.close()


async def measure(args: argparse.Namespace, configuration: client.Configuration, work: workload.Workload,
                  storage: dict[str, str], loads: dict[str, list[float]]) -> dict[str, Any]:
    async with client.ApiClient(configuration) as api:
        bench = Bench(args, api, work, storage)
        if args.memory_only:
            return {"memory": await bench.memory()}
        sides: dict[str, Any] = {"raw": await bench.side("raw", None)}
        loads["after raw"] = machine()["load_average"]
        go = os.environ.get("GO_EXECUTOR")
        if go:
            sides["go"] = await bench.side("go", executors.GoExecutor(RESULTS / "go-executor.log", Path(go).expanduser()))
            loads["after go"] = machine()["load_average"]
        sides["operator"] = await bench.side("operator", executors.Operator(RESULTS / "operator.log"))
        loads["after operator"] = machine()["load_average"]
        memory = await bench.memory() if args.memory else None
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command_line(),
        **machine(),
        "load_averages": loads,
        "count": args.count,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "high_rate": args.high_rate,
        "seconds": args.seconds,
        "sides": sides,
        "memory": memory,
    }


def command_line() -> str:
    go = os.environ.get("GO_EXECUTOR")
    prefix = f"GO_EXECUTOR={go} " if go else ""
    return prefix + ".venv/bin/python e2e/bench/bench.py " + shlex.join(sys.argv[1:])


def with_cluster(body: Callable[[Any], dict[str, Any]], keep: bool) -> dict[str, Any]:
    """body(SeaweedFS) on the bench cluster, brought up first and deleted after (unless kept)."""
    cluster.up()
    try:
        cluster.kubectl("apply", "--server-side", "-f", str(REPO / "crds" / "taskactions.flyte.org.yaml"))
        cluster.kubectl("wait", "--for=condition=Established", "crd/taskactions.flyte.org", "--timeout=60s")
        with tempfile.TemporaryDirectory(prefix="bench-s3-") as s3_dir, running_seaweedfs(Path(s3_dir)) as s3:
            # Its readiness probe's client is collected now, not inside the bench's event loop (where closing its
            # session raises "attached to a different loop").
            gc.collect()
            return body(s3)
    finally:
        if keep:
            print(f"cluster {cluster.CLUSTER_NAME} kept: KUBECONFIG={cluster.KUBECONFIG}", flush=True)
        else:
            cluster.down()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--count", type=int, default=1000, help="actions created at once (default 1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="creates in flight at once (default 50)")
    parser.add_argument("--rate", type=float, default=20.0, help="steady phase: actions a second (default 20)")
    parser.add_argument("--high-rate", type=float, default=50.0,
                        help="a second steady phase at this rate, as long as the first (default 50; 0 leaves it out)")
    parser.add_argument("--seconds", type=float, default=30.0, help="steady phases: how long (default 30)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per phase, seconds (default 600)")
    parser.add_argument("--memory", type=int, nargs="?", const=10000, default=0, metavar="N",
                        help="also the memory figure with N finished TaskActions (10000 when N is left out)")
    parser.add_argument("--unrelated-pods", type=int, default=20000, help="memory figure: pods in another namespace")
    parser.add_argument("--memory-timeout", type=float, default=3600.0, help="memory figure: seconds for the N to finish")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the memory figure (N from --memory, else 10000), added to the last results")
    parser.add_argument("--profile", action="store_true", help="one more steady phase with the operator under py-spy")
    parser.add_argument("--keep-cluster", action="store_true", help=f"leave the {CLUSTER_NAME} cluster running")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    args = parser.parse_args()
    if args.memory_only:
        args.memory = args.memory or 10000
    RESULTS.mkdir(exist_ok=True)
    latest = RESULTS / "latest.json"
    results = with_cluster(lambda s3: asyncio.run(run(args, s3)), args.keep_cluster)
    if args.memory_only:
        results = {**json.loads(latest.read_text()), **results}
    png = plot.latency_plot(report.plot_series(results), RESULTS / "latest.png")
    latest.write_text(json.dumps(results, indent=1))
    print(report.summary(results))
    if not args.no_doc:
        doc.replace_head(report.markdown(results, png.relative_to(REPO)))
    print(f"written: {latest.relative_to(REPO)}, {png.relative_to(REPO)}"
          + ("" if args.no_doc else f", {doc.DOC.relative_to(REPO)}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
