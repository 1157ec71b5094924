"""LeaderElector.may_take: when a replica may take the Lease (client-go leaderelection semantics): a Lease held by
another replica expires only after it stayed unchanged for its duration on this replica's own clock."""

from __future__ import annotations

import pytest

from taskaction_operator.controller import leader
from taskaction_operator.controller.leader import LeaderElector


def lease(holder: str | None, renewed: str | None, duration: int = 15) -> dict:
    spec: dict = {"leaseDurationSeconds": duration}
    if holder is not None:
        spec["holderIdentity"] = holder
    if renewed is not None:
        spec["renewTime"] = renewed
    return {"spec": spec}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(leader.time, "monotonic", fake)
    return fake


def elector() -> LeaderElector:
    return LeaderElector(None, "ns", "lease", "me", duration=15, renew_deadline=10, retry=2)  # type: ignore[arg-type]


@pytest.mark.parametrize("existing", [lease(None, None), lease("", "2026-11-23T11:59:59.000000Z"), lease("me", "2026-11-23T11:59:59.000000Z")])
def test_free_or_ours_at_once(existing: dict, clock: Clock) -> None:
    assert elector().may_take(existing)


def test_anothers_lease_is_never_taken_at_first_sight_whatever_its_timestamps_say(clock: Clock) -> None:
    """A renewTime long ago may only mean the holder's clock is behind: it is not compared with ours."""
    assert not elector().may_take(lease("other", "2020-01-01T00:00:00.000000Z"))


def test_taken_once_unchanged_for_its_duration_on_our_clock(clock: Clock) -> None:
    me = elector()
    held = lease("other", "2026-11-23T11:59:50.000000Z")
    assert not me.may_take(held)
    clock.now += 14.9
    assert not me.may_take(held)
    clock.now += 0.1
    assert me.may_take(held)


def test_a_renewal_starts_the_wait_again(clock: Clock) -> None:
    me = elector()
    assert not me.may_take(lease("other", "2026-11-23T11:59:50.000000Z"))
    clock.now += 10
    assert not me.may_take(lease("other", "2026-11-23T12:00:00.000000Z"))  # renewed meanwhile
    clock.now += 10
    assert not me.may_take(lease("other", "2026-11-23T12:00:00.000000Z"))
    clock.now += 5
    assert me.may_take(lease("other", "2026-11-23T12:00:00.000000Z"))


def test_each_lease_request_has_a_budget_below_the_renew_deadline() -> None:
    me = elector()
    assert 2 * me.request_timeout < me.renew_deadline  # a get and a replace fit in the deadline


def test_leading_is_leader_election_master_status_by_lease_name() -> None:
    from prometheus_client import REGISTRY

    one = LeaderElector(None, "ns", "status-lease", "me", duration=15, renew_deadline=10, retry=2)  # type: ignore[arg-type]
    assert REGISTRY.get_sample_value("leader_election_master_status", {"name": "status-lease"}) == 0
    one.is_leader = True
    assert REGISTRY.get_sample_value("leader_election_master_status", {"name": "status-lease"}) == 1
    one.is_leader = False
    assert REGISTRY.get_sample_value("leader_election_master_status", {"name": "status-lease"}) == 0
