"""The tests' one polling loop (tests/support/waiting.py): it returns what held, and fails saying what did not."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.waiting import WaitTimedOut, wait_until, wait_until_async


def counting_to(target: int) -> tuple[list[int], Callable[[], int | None]]:
    calls: list[int] = []

    def predicate() -> int | None:
        calls.append(1)
        return len(calls) if len(calls) >= target else None

    return calls, predicate


def test_returns_the_first_truthy_result() -> None:
    calls, predicate = counting_to(3)
    assert wait_until(predicate, 5, "never", interval=0) == 3
    assert len(calls) == 3


def test_fails_with_the_message_built_when_it_times_out() -> None:
    built: list[str] = []
    with pytest.raises(WaitTimedOut, match=r"^not ready: state 7 \(waited 0.05s\)$"):
        wait_until(lambda: None, 0.05, lambda: built.append("x") or "not ready: state 7", interval=0.01)
    assert built == ["x"]


def test_a_message_is_not_built_when_the_wait_succeeds() -> None:
    wait_until(lambda: True, 1, lambda: pytest.fail("built"))


async def test_async_awaits_an_async_predicate() -> None:
    calls, predicate = counting_to(2)

    async def polled() -> int | None:
        return predicate()

    assert await wait_until_async(polled, 5, "never", interval=0) == 2


async def test_async_takes_a_plain_predicate_and_times_out() -> None:
    with pytest.raises(WaitTimedOut, match="no update"):
        await wait_until_async(lambda: [], 0.05, "no update", interval=0.01)
