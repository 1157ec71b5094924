"""A background loop that raises is started again; one that keeps crashing without a beat makes the process not
alive; a beat clears its record."""

from __future__ import annotations

import asyncio

import pytest

from taskaction_operator.controller import supervision
from taskaction_operator.controller.supervision import CRASHES_BEFORE_UNHEALTHY, Supervisor


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(supervision, "BACKOFF_SECONDS", (0,))


async def until(condition, timeout: float = 5.0) -> None:  # noqa: ANN001
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


async def test_a_crashed_loop_runs_again_and_a_beat_keeps_the_process_alive() -> None:
    runs = []
    supervisor = Supervisor()

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise ConnectionResetError("API server restarting")
        supervisor.beat("flaky")
        await asyncio.sleep(3600)

    supervisor.spawn("flaky", flaky)
    await until(lambda: len(runs) == 3)
    await asyncio.sleep(0.01)
    assert supervisor.alive()
    await supervisor.stop()


async def test_a_loop_that_keeps_crashing_makes_the_process_not_alive() -> None:
    supervisor = Supervisor()
    crashes = []

    async def broken() -> None:
        crashes.append(1)
        raise KeyError("a bug")

    supervisor.spawn("broken", broken)
    await until(lambda: len(crashes) >= CRASHES_BEFORE_UNHEALTHY)
    await until(lambda: not supervisor.alive())
    await supervisor.stop()


async def test_a_loop_that_returns_is_started_again() -> None:
    supervisor = Supervisor()
    runs = []

    async def returns() -> None:
        runs.append(1)

    supervisor.spawn("returns", returns)
    await until(lambda: len(runs) >= 2)
    await supervisor.stop()
