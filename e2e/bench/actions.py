"""`make bench`, actions service: many parent tasks enqueueing and watching children at once, as Flyte SDK parents do.

    .venv/bin/python e2e/bench/actions.py [--parents 50] [--children 20]

Starts the operator with its actions service on a fresh namespace of the local cluster, creates --parents roots, opens
one WatchForUpdates stream per parent (flyteidl2's Connect client, as the SDK), then Enqueues --children children per
parent (50 calls in flight). kwok moves the children's pods to Succeeded after 1 s. Prints: Enqueue calls/s and
latency, the time until every parent has been told that every child SUCCEEDED, the delay between a TaskAction
turning Succeeded (seen by a plain watch of the API server) and its parent being told, and the operator's peak RSS
and CPU. Writes its section of docs/benchmarks.md. A program that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from connectrpc.errors import ConnectError
from flyteidl2.actions import actions_service_pb2 as pb
from flyteidl2.actions.actions_service_connect import ActionsServiceClient
from flyteidl2.common import identifier_pb2
from flyteidl2.common import phase_pb2 as P
from flyteidl2.task import task_definition_pb2
from flyteidl2.workflow import run_definition_pb2
from kubernetes_asyncio import client, config

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "e2e"))
sys.path.insert(0, str(REPO))
import cluster as local_cluster  # noqa: E402
import doc  # noqa: E402
from bench import percentile  # noqa: E402
from executors import Sampler  # noqa: E402
from timeline import watching  # noqa: E402

from taskaction_operator.client.manifests import container_template, taskaction  # noqa: E402
from tests.support.ports import free_ports  # noqa: E402

SIM_LABELS = {"sim.taskaction.dev/outcome": "succeed"}
SIM_ANNOTATIONS = {"sim.taskaction.dev/delay": "1s"}
TEMPLATE = container_template("busybox", ["true"], cpu="10m", memory="16Mi", name="bench.child")
PROJECT, DOMAIN = "demo", "development"


def child(run: str, name: str) -> pb.Action:
    run_id = identifier_pb2.RunIdentifier(org="local", project=PROJECT, domain=DOMAIN, name=run)
    return pb.Action(
        action_id=identifier_pb2.ActionIdentifier(run=run_id, name=name),
        parent_action_name="a0",
        input_uri=f"s3://flyte-data/{PROJECT}/{DOMAIN}/{run}/{name}/inputs.pb",
        run_output_base=f"s3://flyte-data/{PROJECT}/{DOMAIN}/{run}/",
        task=run_definition_pb2.TaskAction(spec=task_definition_pb2.TaskSpec(task_template=TEMPLATE, short_name="child")),
    )


def kubectl(*args: str) -> None:
    subprocess.run([str(local_cluster.BIN_DIR / "kubectl"), *args], check=True, capture_output=True, text=True)


def on_succeeded(expected: int, succeeded: dict[str, float], done: asyncio.Event):
    """What a plain watch of the TaskActions does with each: note when it is first seen Succeeded."""

    def on_taskaction(obj: dict) -> None:
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond["type"] == "Succeeded" and cond["status"] == "True":
                succeeded.setdefault(obj["metadata"]["name"], time.monotonic())
        if len(succeeded) >= expected:
            done.set()

    return on_taskaction


async def watch_parent(service: ActionsServiceClient, run: str, expected: int, told: dict[str, float], done: asyncio.Event) -> None:
    parent = identifier_pb2.ActionIdentifier(run=identifier_pb2.RunIdentifier(org="local", project=PROJECT, domain=DOMAIN, name=run), name="a0")
    ready = False
    async for response in service.watch_for_updates(pb.WatchForUpdatesRequest(parent_action_id=parent)):
        if response.HasField("control_message"):
            ready = True
            continue
        update = response.action_update
        if update.action_id.name != "a0" and update.phase == P.ACTION_PHASE_SUCCEEDED:
            told.setdefault(f"{run}-{update.action_id.name}", time.monotonic())
        if ready and sum(1 for name in told if name.startswith(f"{run}-")) >= expected:
            done.set()
            return


async def main(parents: int, children: int, concurrency: int, timeout: float) -> int:
    if not os.environ.get("KUBECONFIG"):
        subprocess.run([sys.executable, str(REPO / "e2e" / "cluster.py"), "up"], check=True)
        os.environ["KUBECONFIG"] = str(local_cluster.KUBECONFIG)
    kubectl("apply", "-f", str(REPO / "crds" / "taskactions.flyte.org.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/taskactions.flyte.org", "--timeout=60s")
    namespace = f"ta-bench-actions-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    address = f"127.0.0.1:{free_ports(1)[0]}"
    env = {
        **os.environ,
        "TASKACTION_NAMESPACES": json.dumps([namespace]),
        "TASKACTION_METRICS_PORT": "0",
        "TASKACTION_HEALTH_PORT": "0",
        "TASKACTION_READ_OUTPUTS": "false",
        "TASKACTION_ACTIONS_SERVICE_ADDRESS": address,
        "TASKACTION_ACTIONS_SERVICE_NAMESPACE": namespace,
        # The figures of docs/benchmarks.md measure the service's own work, not TokenReviews (a token's are cached).
        "TASKACTION_ACTIONS_SERVICE_AUTH": "false",
    }
    log = open(HERE / "results" / "actions-operator.log", "w")  # noqa: SIM115
    operator = subprocess.Popen([sys.executable, "-m", "taskaction_operator"], env=env, stdout=log, stderr=subprocess.STDOUT)
    sampler = Sampler(operator.pid)
    sampler.start()
    await config.load_kube_config(os.environ["KUBECONFIG"])
    try:
        async with client.ApiClient() as api, ActionsServiceClient(f"http://{address}") as service:
            custom = client.CustomObjectsApi(api)
            runs = [f"p{i:04d}" for i in range(parents)]
            for run in runs:
                root = taskaction(TEMPLATE, run=run, namespace=namespace, project=PROJECT, domain=DOMAIN, labels=SIM_LABELS, annotations=SIM_ANNOTATIONS)
                await custom.create_namespaced_custom_object("flyte.org", "v1", namespace, "taskactions", root)
            await asyncio.sleep(3)  # the operator and its service are up
            cpu_before = sampler.cpu_seconds()
            total = parents * children
            told: dict[str, float] = {}
            parent_done = [asyncio.Event() for _ in runs]
            watches = [asyncio.create_task(watch_parent(service, run, children, told, event)) for run, event in zip(runs, parent_done)]
            succeeded: dict[str, float] = {}
            all_succeeded = asyncio.Event()
            open_watch = functools.partial(custom.list_namespaced_custom_object, "flyte.org", "v1", namespace, "taskactions")
            plain_watches = await watching([(open_watch, on_succeeded(total + parents, succeeded, all_succeeded))])
            await asyncio.sleep(2)

            sent: dict[str, float] = {}
            answered: dict[str, float] = {}
            semaphore = asyncio.Semaphore(concurrency)

            async def enqueue(run: str, index: int) -> None:
                name = f"c{index:04d}"
                async with semaphore:
                    sent[f"{run}-{name}"] = time.monotonic()
                    await service.enqueue(pb.EnqueueRequest(action=child(run, name)))
                    answered[f"{run}-{name}"] = time.monotonic()

            started = time.monotonic()
            await asyncio.gather(*(enqueue(run, i) for i in range(children) for run in runs))
            enqueued = time.monotonic()
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in parent_done)), timeout)
            finished = time.monotonic()
            await asyncio.wait_for(all_succeeded.wait(), 30)
            for task in [*watches, *plain_watches]:
                task.cancel()
            await asyncio.gather(*watches, *plain_watches, return_exceptions=True)
            cpu = sampler.cpu_seconds() - cpu_before
    except (ConnectError, TimeoutError) as exc:
        print(f"failed: {exc!r}; operator log: {log.name}", flush=True)
        return 1
    finally:
        sampler.stop()
        # The namespace goes while the operator still runs: it releases the actions' finalizers, which would otherwise
        # hold the namespace in Terminating (and its controller busy) until an operator watches it again.
        kubectl("delete", "namespace", namespace, "--wait=true", "--timeout=600s")
        operator.terminate()
        operator.wait(timeout=30)
        log.close()

    children_names = list(sent)
    enqueue_latency = [answered[n] - sent[n] for n in children_names]
    propagation = [max(told[n] - succeeded[n], 0.0) for n in children_names]
    result = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "parents": parents,
        "children": total,
        "enqueue_calls_per_second": round(total / (enqueued - started), 1),
        "enqueue_latency_p50_ms": round(percentile(enqueue_latency, 50) * 1000, 1),
        "enqueue_latency_p99_ms": round(percentile(enqueue_latency, 99) * 1000, 1),
        "all_parents_told_seconds": round(finished - started, 2),
        "succeeded_to_parent_told_p50_ms": round(percentile(propagation, 50) * 1000, 1),
        "succeeded_to_parent_told_p99_ms": round(percentile(propagation, 99) * 1000, 1),
        "operator_peak_rss_mib": round(sampler.peak_rss / 2**20, 1),
        "operator_cpu_seconds": round(cpu, 2),
    }
    print(json.dumps(result, indent=1), flush=True)
    (HERE / "results" / "actions.json").write_text(json.dumps(result, indent=1))
    write_doc(result)
    return 0


def write_doc(r: dict) -> None:
    doc.replace_section(
        "Actions service",
        f"""Printed by `.venv/bin/python e2e/bench/actions.py` (second line of `make bench`), {r['date']}: the operator with
its actions service, {r['parents']} parent runs each watching (WatchForUpdates, flyteidl2's Connect client) and
enqueueing {r['children'] // r['parents']} children, {r['children']} children in all, 50 Enqueue calls in flight;
kwok ends each child's pod after 1 s. The service runs without authentication (`TASKACTION_ACTIONS_SERVICE_AUTH=false`,
since the bench's callers have no tokens; with it, one caller's token costs one TokenReview and one
SubjectAccessReview per verb per `TASKACTION_ACTIONS_SERVICE_AUTH_CACHE_SECONDS`).

| figure | value |
|---|---|
| Enqueue | {r['enqueue_calls_per_second']} calls/s, latency p50 / p99 {r['enqueue_latency_p50_ms']} / {r['enqueue_latency_p99_ms']} ms |
| every parent told that every child SUCCEEDED | {r['all_parents_told_seconds']} s after the first Enqueue |
| TaskAction Succeeded (seen by a plain API watch) -> parent told, p50 / p99 | {r['succeeded_to_parent_told_p50_ms']} / {r['succeeded_to_parent_told_p99_ms']} ms |
| operator peak RSS (controller + service) | {r['operator_peak_rss_mib']} MiB |
| operator CPU | {r['operator_cpu_seconds']} s |

The {r['parents']} streams cost the API server one watch: the service's.""",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parents", type=int, default=50)
    parser.add_argument("--children", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.parents, args.children, args.concurrency, args.timeout)))
