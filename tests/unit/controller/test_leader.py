"""may_take: when a replica may take the Lease (client-go leaderelection semantics)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from taskaction_operator.controller.leader import may_take

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


def lease(holder: str | None, renewed: str | None, duration: int = 15) -> dict:
    spec: dict = {"leaseDurationSeconds": duration}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed is not None:
        spec["renewTime"] = renewed
    return {"spec": spec}


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (lease(None, None), True),  # nobody holds it
        (lease("", "2026-11-23T11:59:59.000000Z"), True),  # released
        (lease("me", "2026-11-23T11:59:59.000000Z"), True),  # ours: renew
        (lease("other", "2026-11-23T11:59:50.000000Z"), False),  # renewed 10 s ago, lasts 15 s
        (lease("other", "2026-11-23T11:59:45.000000Z"), True),  # exactly expired
        (lease("other", "2026-11-23T11:50:00.000000Z"), True),  # long expired
        (lease("other", None), True),  # never renewed
    ],
)
def test_may_take(existing: dict, expected: bool) -> None:
    assert may_take(existing, "me", NOW) is expected
