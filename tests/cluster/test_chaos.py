"""The short version of `make chaos` (e2e/chaos): kill -9 of the operator a few times during a burst of 200 actions
(a fifth failing every attempt, retries=2), on the shared cluster, which it never restarts. Nothing is lost, every
outcome and attempt count is right, no pod exists for an attempt that should not, none belongs to another action."""

from __future__ import annotations

from pathlib import Path

from e2e.chaos.burst import CHECKS, run_burst
from e2e.chaos.harness import operator_running
from tests.support.kube import Kube

COUNT = 200
KILLS = 3
KILL_EVERY_SECONDS = 4.0


def test_kill9_during_a_burst_loses_nothing_and_duplicates_nothing(kube: Kube, crd: None, namespace: str, tmp_path: Path) -> None:
    with operator_running(kube, namespace, tmp_path / "operator.log", {"TASKACTION_READ_OUTPUTS": "false"}) as operator:
        figures = run_burst(
            kube, namespace, operator, count=COUNT, burst="kill9", fault=lambda: operator.kill(graceful=False),
            every=KILL_EVERY_SECONDS, limit=KILLS, timeout=300,
        )
        log = operator.log()
    assert figures["faults"] == KILLS, figures
    broken = {check: figures["examples"][check] for check in CHECKS if figures[check]}
    assert not broken, f"{ {check: figures[check] for check in broken} }\n{broken}\noperator log (tail):\n{log}"
    assert figures["operator_restarts"] == 0, log
