"""The keyed work queue (client-go semantics): dedupe, one worker per key, dirty re-add, earliest delayed add."""

from __future__ import annotations

import asyncio

from taskaction_operator.controller.workqueue import WorkQueue
from tests.support.waiting import wait_until_async

A = ("flyte", "rabc123-a0")
B = ("flyte", "rabc123-train")


async def get_now(queue: WorkQueue, timeout: float = 0.05):
    """The next key, or None when nothing is ready within `timeout`."""
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except TimeoutError:
        return None


async def test_a_key_is_queued_once() -> None:
    queue = WorkQueue()
    queue.add(A)
    queue.add(A)
    queue.add(B)
    queue.add(A)
    assert len(queue) == 2
    assert await get_now(queue) == A
    assert await get_now(queue) == B
    assert await get_now(queue) is None


async def test_key_being_processed_is_not_handed_out_again_until_done() -> None:
    queue = WorkQueue()
    queue.add(A)
    assert await get_now(queue) == A
    queue.add(A)  # changed while a worker holds it
    assert len(queue) == 0
    assert await get_now(queue) is None, "a second worker must not get the key while the first holds it"
    queue.done(A)
    assert len(queue) == 1, "the change seen during processing re-queues the key"
    assert await get_now(queue) == A
    queue.done(A)
    assert await get_now(queue) is None, "no spurious re-add after a clean done"


async def test_done_without_changes_does_not_requeue() -> None:
    queue = WorkQueue()
    queue.add(A)
    assert await get_now(queue) == A
    queue.done(A)
    assert len(queue) == 0


async def test_workers_never_process_one_key_concurrently() -> None:
    queue = WorkQueue()
    active: dict[tuple[str, str], int] = {A: 0, B: 0}
    peak: dict[tuple[str, str], int] = {A: 0, B: 0}
    handled: list[tuple[str, str]] = []
    started: list[tuple[str, str]] = []

    async def worker() -> None:
        while True:
            key = await queue.get()
            started.append(key)
            active[key] += 1
            peak[key] = max(peak[key], active[key])
            await asyncio.sleep(0.002)
            handled.append(key)
            active[key] -= 1
            queue.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(8)]
    try:
        after_last_add = 0
        for _ in range(50):
            queue.add(A)
            queue.add(B)
            after_last_add = len(started)  # no worker can run between the adds and this line
            await asyncio.sleep(0.0005)
        await wait_until_async(lambda: len(queue) == 0 and active[A] == 0 and active[B] == 0, 5, "the queue did not drain", interval=0.005)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    assert peak == {A: 1, B: 1}
    assert 1 <= handled.count(A) < 50, "adds were coalesced"
    assert A in started[after_last_add:] and B in started[after_last_add:], "the last change of each key was processed"
    assert len(handled) == len(started)


async def test_add_after_fires_later() -> None:
    queue = WorkQueue()
    queue.add_after(A, 0.05)
    assert queue.delayed == 1 and len(queue) == 0
    assert await get_now(queue, 0.01) is None
    assert await get_now(queue, 0.5) == A
    assert queue.delayed == 0


async def test_add_after_keeps_the_earliest_deadline() -> None:
    loop = asyncio.get_running_loop()
    queue = WorkQueue()
    start = loop.time()
    queue.add_after(A, 0.05)
    queue.add_after(A, 5.0)  # later: ignored
    assert queue.delayed == 1
    assert await get_now(queue, 1.0) == A
    assert loop.time() - start < 1.0
    queue.done(A)

    start = loop.time()
    queue.add_after(B, 5.0)
    queue.add_after(B, 0.03)  # earlier: replaces
    assert queue.delayed == 1
    assert await get_now(queue, 1.0) == B
    assert loop.time() - start < 1.0
    assert queue.delayed == 0


async def test_add_after_non_positive_is_immediate() -> None:
    queue = WorkQueue()
    queue.add_after(A, 0)
    queue.add_after(B, -1)
    assert len(queue) == 2 and queue.delayed == 0


async def test_delayed_add_of_a_queued_key_is_deduplicated() -> None:
    queue = WorkQueue()
    queue.add(A)
    queue.add_after(A, 0.01)
    await asyncio.sleep(0.05)
    assert len(queue) == 1
    assert await get_now(queue) == A
    assert await get_now(queue) is None


async def test_forget_cancels_a_delayed_add() -> None:
    queue = WorkQueue()
    queue.add_after(A, 0.03)
    queue.add_after(B, 0.03)
    queue.forget(A)
    assert queue.delayed == 1
    await asyncio.sleep(0.08)
    assert await get_now(queue) == B
    assert await get_now(queue) is None
    queue.forget(A)  # forgetting twice is harmless


async def test_many_delayed_adds_come_due_in_the_order_of_their_deadlines() -> None:
    """One loop timer for all of them: each due key comes when its deadline passes, a forgotten one never, and a
    deadline moved earlier comes once."""
    queue = WorkQueue()
    keys = [("flyte", f"rabc123-{i}") for i in range(5)]
    for i, key in enumerate(keys):
        queue.add_after(key, 0.02 * (5 - i))  # the last key first
    queue.forget(keys[4])  # the earliest: the timer for it finds it gone and goes on to the next
    queue.add_after(keys[0], 0.01)  # moved from the latest to before the others
    assert queue.delayed == 4
    assert [await get_now(queue, 1.0) for _ in range(4)] == [keys[0], keys[3], keys[2], keys[1]]
    await asyncio.sleep(0.15)  # the moved key's first deadline passes too: it does not come again
    assert await get_now(queue) is None and queue.delayed == 0


def test_delayed_adds_under_uvloop_the_operators_loop() -> None:
    """uvloop runs a deadline under 0.5 ms away as a plain Handle (no when()): the queue arms its timer the same."""
    import uvloop

    async def scenario() -> list:
        queue = WorkQueue()
        queue.add_after(A, 5.0)
        queue.add_after(B, 0.0001)  # the timer for it is a plain Handle
        queue.add_after(("flyte", "rabc123-c"), 0.0002)
        return [await get_now(queue, 1.0), await get_now(queue, 1.0), queue.delayed]

    assert uvloop.run(scenario()) == [B, ("flyte", "rabc123-c"), 1]


def sample(metric: str, queue_name: str) -> float | None:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(metric, {"name": queue_name, "controller": queue_name})


async def test_client_go_workqueue_metrics_under_the_queues_name() -> None:
    name = "test-metrics"
    queue = WorkQueue(name)
    queue.add(A)
    queue.add(A)  # already queued: no add
    queue.add(B)
    assert (sample("workqueue_adds_total", name), sample("workqueue_depth", name)) == (2, 2)
    assert await get_now(queue) == A
    assert sample("workqueue_queue_duration_seconds_count", name) == 1 and sample("workqueue_depth", name) == 1
    queue.add(A)  # changed while held: counted once, as client-go counts the dirty add
    queue.add(A)
    assert sample("workqueue_adds_total", name) == 3
    assert not queue.requeued_after(A)
    queue.add_after(A, 30)
    assert queue.requeued_after(A) and sample("workqueue_retries_total", name) == 1
    assert sample("workqueue_unfinished_work_seconds", name) > 0
    assert 0 < sample("workqueue_longest_running_processor_seconds", name) <= sample("workqueue_unfinished_work_seconds", name)
    queue.done(A)
    assert not queue.requeued_after(A)
    assert sample("workqueue_work_duration_seconds_count", name) == 1
    assert (sample("workqueue_unfinished_work_seconds", name), sample("workqueue_longest_running_processor_seconds", name)) == (0, 0)
    queue.forget(A)
