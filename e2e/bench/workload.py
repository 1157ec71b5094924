"""What the bench asks each side to run: TaskActions of a real flyte 2.12.1 task, with their outputs.pb already in S3.

The task is serialized offline by the Flyte SDK (translate_task_to_wire, as `taskaction submit` does) with a code
bundle URI that is never fetched: kwok runs no container. Each action's outputs.pb is the SDK's encoding of the task's
return value, written at the sharded output prefix of attempt 1 before the action is created, so the executor finds it
when the pod succeeds, as in production.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import flyte
from flyte._internal.runtime.convert import convert_from_native_to_outputs
from flyte._internal.runtime.task_serde import translate_task_to_wire
from flyte.models import CodeBundle, SerializationContext

from taskaction_operator.client.manifests import taskaction
from taskaction_operator.pods.builder import build_pod
from taskaction_operator.reconcile.task import validate
from taskaction_operator.settings import Settings
from taskaction_operator.storage import paths

PROJECT, DOMAIN, VERSION = "demo", "development", "bench1"
# kwok ends each pod 1 s after it runs (e2e/kwok/stages.yaml).
SIMULATION = {"labels": {"sim.taskaction.dev/outcome": "succeed"}, "annotations": {"sim.taskaction.dev/delay": "1s"}}

env = flyte.TaskEnvironment(name="bench", resources=flyte.Resources(cpu="100m", memory="128Mi"))


@env.task
def increment(x: int) -> int:
    return x + 1


def task_template(bucket: str) -> Any:
    bundle = CodeBundle(computed_version=VERSION, tgz=f"s3://{bucket}/uploads/{PROJECT}/{DOMAIN}/{VERSION}/fast{VERSION}.tar.gz")
    context = SerializationContext(
        project=PROJECT, domain=DOMAIN, org="local", version=VERSION, code_bundle=bundle, root_dir=Path(__file__).parent
    )
    return translate_task_to_wire(increment, context).task_template


async def outputs_pb() -> bytes:
    outputs = await convert_from_native_to_outputs(2, increment.native_interface, increment.name)
    return outputs.proto_outputs.SerializeToString()


class Workload:
    """TaskAction bodies (and, for the raw side, equivalent pods) of one namespace, and their outputs in S3."""

    def __init__(self, template: Any, bucket: str, fs: Any, outputs: bytes):
        self.template, self.bucket, self.fs, self.outputs = template, bucket, fs, outputs

    def taskactions(self, namespace: str, prefix: str, count: int) -> list[dict]:
        return [
            taskaction(self.template, run=f"{prefix}{i:05d}", namespace=namespace, project=PROJECT, domain=DOMAIN,
                       storage=f"s3://{self.bucket}", **SIMULATION)
            for i in range(count)
        ]

    async def write_outputs(self, bodies: list[dict]) -> None:
        """outputs.pb of attempt 1 of every action, before it exists (kwok's pods write nothing)."""
        files = {}
        for body in bodies:
            meta, spec = body["metadata"], body["spec"]
            prefix = paths.action_output_prefix(meta["namespace"], meta["name"], spec["runOutputBase"], spec["actionName"], 1)
            files[f"{prefix}/outputs.pb"] = self.outputs
        await self.fs._pipe(files, batch_size=64)

    def raw_pods(self, namespace: str, prefix: str, count: int, settings: Settings) -> list[dict]:
        """The operator's own pod for each action, created by nobody but the bench: what the API server and kwok
        allow at best."""
        pods = []
        for body in self.taskactions(namespace, prefix, count):
            body["metadata"]["uid"] = str(uuid.uuid4())
            action, decoded = validate(body)
            pod = build_pod(action, decoded, 1, settings)
            pod["metadata"].pop("ownerReferences", None)
            pods.append(pod)
        return pods


async def gather_bounded(coroutines: list, limit: int) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def one(coroutine):
        async with semaphore:
            return await coroutine

    return await asyncio.gather(*(one(c) for c in coroutines))
