"""When each action of a phase was created, got its pod (scheduled, Running, Succeeded) and Succeeded, as seen by
watches opened before the first create. Events are parsed as plain JSON lines (no client models): the bench shares the
machine's cores with the side it measures, so it spends as little CPU per event as it can.

kwok ends a pod its delay after the pod's LAST update while Running (e2e/kwok/stages.yaml), so every write to a
Running pod restarts its clock: the timeline counts those writes and names their writers (the managedFields entries
each one changed), so that a late pod says who held it up."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp

POD_SUFFIX = "-0"  # attempt 1's pod is `<TaskAction name>-0`, for the operator and the Go executor alike


@dataclass
class Timeline:
    expected: int
    created: dict[str, float] = field(default_factory=dict)  # the create request answered (monotonic seconds)
    pod: dict[str, float] = field(default_factory=dict)  # first watch event of its pod
    scheduled: dict[str, float] = field(default_factory=dict)  # first watch event of its pod bound to a node
    running: dict[str, float] = field(default_factory=dict)  # first watch event of its pod in phase Running
    succeeded: dict[str, float] = field(default_factory=dict)  # first watch event saying Succeeded
    pod_succeeded: dict[str, float] = field(default_factory=dict)  # first watch event of its pod in phase Succeeded
    started: float = 0.0  # the first create sent
    succeeds_by_pod: bool = False  # raw pods: the pod's own phase is the end
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    writes_while_running: int = 0  # updates of a Running pod after the one that made it Running
    running_writers: Counter = field(default_factory=Counter)  # "manager operation[/subresource]" -> such updates
    _managed: dict[str, set] = field(default_factory=dict)  # a Running pod's managedFields entries, last seen

    def saw_pod(self, pod: dict) -> None:
        name = action_name(pod)
        now = time.monotonic()
        self.pod.setdefault(name, now)
        if pod.get("spec", {}).get("nodeName"):
            self.scheduled.setdefault(name, now)
        phase = pod.get("status", {}).get("phase")
        if phase == "Running":
            self._saw_running(name, pod, now)
        elif phase == "Succeeded":
            self._managed.pop(name, None)
            self.pod_succeeded.setdefault(name, now)
            if self.succeeds_by_pod:
                self._done(name, now)

    def _saw_running(self, name: str, pod: dict, now: float) -> None:
        entries = {(f.get("manager"), f.get("operation"), f.get("subresource", ""), f.get("time"), json.dumps(f.get("fieldsV1")))
                   for f in pod["metadata"].get("managedFields") or ()}
        if name in self.running:
            self.writes_while_running += 1
            for manager, operation, subresource, _, _ in entries - self._managed.get(name, set()):
                self.running_writers[f"{manager} {operation}{'/' + subresource if subresource else ''}"] += 1
        self.running.setdefault(name, now)
        self._managed[name] = entries

    def saw_taskaction(self, action: dict) -> None:
        for condition in action.get("status", {}).get("conditions") or ():
            if condition.get("type") == "Succeeded" and condition.get("status") == "True":
                self._done(action["metadata"]["name"], time.monotonic())

    def _done(self, name: str, now: float) -> None:
        self.succeeded.setdefault(name, now)
        if len(self.succeeded) >= self.expected:
            self.complete.set()

    def pod_latencies(self) -> list[float]:
        return [self.pod[n] - t for n, t in self.created.items() if n in self.pod]

    def succeeded_latencies(self) -> list[float]:
        return [self.succeeded[n] - t for n, t in self.created.items() if n in self.succeeded]

    def pod_to_action_latencies(self) -> list[float]:
        """Its pod Succeeded -> the action Succeeded: what the executor adds after the pod's own work (0 for raw pods)."""
        return [self.succeeded[n] - t for n, t in self.pod_succeeded.items() if n in self.succeeded]

    def pod_run_latencies(self) -> list[float]:
        """Its pod first seen -> its pod Succeeded: scheduling and kwok's run, the same for every executor."""
        return [t - self.pod[n] for n, t in self.pod_succeeded.items() if n in self.pod]

    def stage_latencies(self) -> dict[str, list[float]]:
        """pod -> pod Succeeded in its stages: the scheduler's bind, kwok's Running, kwok's delay (and whatever
        restarted it)."""
        stages = (("pod_to_scheduled", self.pod, self.scheduled), ("scheduled_to_running", self.scheduled, self.running),
                  ("running_to_pod_succeeded", self.running, self.pod_succeeded))
        return {name: [end[n] - t for n, t in start.items() if n in end] for name, start, end in stages}

    def series(self) -> list[tuple[float, float]]:
        """(created, seconds after the phase began; create -> Succeeded) of every finished action, in creation order."""
        return sorted((t - self.started, self.succeeded[n] - t) for n, t in self.created.items() if n in self.succeeded)


def action_name(body: dict) -> str:
    """The action a TaskAction or its pod (also a raw pod, named as the operator names it) is of."""
    name = body["metadata"]["name"]
    return name.removesuffix(POD_SUFFIX) if body.get("kind", "Pod") == "Pod" else name


async def follow(open_watch: Callable[..., Awaitable], on_object: Callable[[dict], None], opened: asyncio.Event) -> None:
    """Follow a watch for ever (the caller cancels it); a closed or expired stream is reopened where it ended."""
    version: str | None = None
    while True:
        kwargs = {"watch": True, "timeout_seconds": 3600, "allow_watch_bookmarks": True, "_preload_content": False,
                  "_request_timeout": aiohttp.ClientTimeout(total=None, sock_read=None)}
        if version:
            kwargs["resource_version"] = version
        try:
            response = await open_watch(**kwargs)
            opened.set()
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    if event["type"] == "ERROR":  # 410 Gone: start again from now
                        version = None
                        raise ConnectionResetError(event["object"].get("message"))
                    version = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        on_object(event["object"])
            response.release()
        except asyncio.CancelledError:
            raise
        except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError) as exc:
            print(f"watch reopened after: {exc!r}", flush=True)


async def watching(watches: list[tuple[Callable[..., Awaitable], Callable[[dict], None]]]) -> list[asyncio.Task]:
    """Start the watches and return once every one of them is open."""
    tasks, opened = [], []
    for open_watch, on_object in watches:
        event = asyncio.Event()
        opened.append(event)
        tasks.append(asyncio.create_task(follow(open_watch, on_object, event)))
    await asyncio.gather(*(e.wait() for e in opened))
    return tasks


async def create_at_once(bodies: list[dict], create: Callable[[dict], Awaitable], timeline: Timeline, concurrency: int) -> None:
    """Every create at once, at most `concurrency` in flight."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(body: dict) -> None:
        async with semaphore:
            await create(body)
            timeline.created[action_name(body)] = time.monotonic()

    timeline.started = time.monotonic()
    await asyncio.gather(*(one(b) for b in bodies))


async def create_steadily(bodies: list[dict], create: Callable[[dict], Awaitable], timeline: Timeline, rate: float) -> None:
    """One create every 1/rate seconds, each sent on time whether or not the earlier ones were answered."""

    async def one(body: dict) -> None:
        await create(body)
        timeline.created[action_name(body)] = time.monotonic()

    timeline.started = time.monotonic()
    tasks = []
    for i, body in enumerate(bodies):
        delay = timeline.started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(body)))
    await asyncio.gather(*tasks)
