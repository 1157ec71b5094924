"""should_delete, the TTL decision of the garbage collector: upstream's table (docs/upstream-contract.md, "Terminal
labels and garbage collection"), now 2026-08-08 12:00Z."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskaction_operator.controller.gc import SELECTOR, should_delete

NOW = datetime(2026, 8, 8, 12, 0, tzinfo=UTC)
HOUR = 3600.0


@pytest.mark.parametrize(
    ("completed", "ttl", "expected"),
    [
        ("2026-08-08.10-00", HOUR, True),  # expired with a positive TTL
        ("2026-08-08.12-00", HOUR, False),  # recent
        ("2026-08-08.11-00", HOUR, False),  # exactly the TTL ago: not older than it
        ("2026-08-08.10-59", HOUR, True),  # one minute past the TTL
        ("2026-08-08.12-00", 0.0, True),  # TTL 0 deletes at once
        ("2026-08-08.12-00", -5.0, True),  # negative TTL too
        ("", HOUR, False),  # no completed time: never
        ("", 0.0, False),
    ],
)
def test_should_delete(completed: str, ttl: float, expected: bool) -> None:
    assert should_delete(completed, ttl, NOW) is expected


def test_selector_asks_for_terminated_actions_with_a_completed_time() -> None:
    assert SELECTOR == "flyte.org/termination-status=terminated,flyte.org/completed-time"
