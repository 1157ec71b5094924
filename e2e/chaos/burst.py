"""A burst of TaskActions under a fault repeated on a schedule (kill -9 of the operator, SIGTERM, a control plane
restart), and what must hold after it: nothing lost, every outcome right, no pod for an attempt that should not exist.

A fifth of the actions fail every attempt (kwok's Stage for sim.taskaction.dev/outcome=fail) and have retries=2, so
they end Failed after exactly 3 attempts; the rest succeed at their first. The checks (`violations`) are pure: they
read the TaskActions at the end and the history of every pod seen while the burst ran."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from e2e.chaos.harness import PodHistory, SupervisedOperator, create_all, is_terminal, list_retrying, wait_terminal
from taskaction_operator.api import constants as c
from taskaction_operator.client.manifests import container_template, taskaction
from tests.support.kube import Kube, is_true

RETRIES = 2
FAIL_EVERY = 5  # one action in five fails every attempt
POD_SECONDS = "3s"  # how long kwok keeps each pod Running: faults land while pods are in flight
SELECTOR_LABEL = "chaos-burst"
CHECKS = ("lost", "wrong_outcome", "spurious_system_failure", "pod_beyond_attempts", "second_pod_for_an_attempt", "pod_not_owned_by_its_action")


def burst_actions(namespace: str, count: int, burst: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The TaskActions of a burst and the outcome each must have, by name."""
    template = container_template("busybox", ["true"], retries=RETRIES, cpu="10m", memory="16Mi")
    objects, expected = [], {}
    for i in range(count):
        outcome = "fail" if i % FAIL_EVERY == 0 else "succeed"
        body = taskaction(
            template,
            run=f"{burst}-{i:05d}",
            namespace=namespace,
            labels={"sim.taskaction.dev/outcome": outcome, SELECTOR_LABEL: burst},
            annotations={"sim.taskaction.dev/delay": POD_SECONDS},
        )
        objects.append(body)
        expected[body["metadata"]["name"]] = outcome
    return objects, expected


def violations(
    expected: dict[str, str], actions: dict[str, dict[str, Any]], pod_uids: dict[str, set[str]], pod_owner: dict[str, str]
) -> dict[str, list[str]]:
    """Each check's offenders (each a line naming the object and what is wrong); all must be empty."""
    found: dict[str, list[str]] = {check: [] for check in CHECKS}
    for name, outcome in sorted(expected.items()):
        ta = actions.get(name)
        if ta is None or not is_terminal(ta):
            found["lost"].append(f"{name}: not terminal ({_progress(ta)})")
            continue
        status = ta["status"]
        succeeded = is_true(ta, c.CONDITION_SUCCEEDED)
        want_attempts = 1 if outcome == "succeed" else RETRIES + 1
        if succeeded != (outcome == "succeed"):
            found["wrong_outcome"].append(f"{name}: labelled {outcome}, ended {'Succeeded' if succeeded else 'Failed'}")
        elif status.get("attempts") != want_attempts:
            found["wrong_outcome"].append(f"{name}: {status.get('attempts')} attempts, want {want_attempts}")
        if status.get("systemFailures"):
            found["spurious_system_failure"].append(f"{name}: systemFailures={status['systemFailures']}")
    for pod_name, uids in sorted(pod_uids.items()):
        ta_name, _, index = pod_name.rpartition("-")
        ta = actions.get(ta_name)
        if ta_name not in expected or ta is None:
            found["pod_not_owned_by_its_action"].append(f"{pod_name}: no TaskAction {ta_name} in the burst")
            continue
        if int(index) >= int((ta.get("status") or {}).get("attempts") or 1):
            found["pod_beyond_attempts"].append(f"{pod_name}: the action made {(ta.get('status') or {}).get('attempts')} attempts")
        if len(uids) > 1:
            found["second_pod_for_an_attempt"].append(f"{pod_name}: {len(uids)} pods (uids {sorted(uids)})")
        for uid in uids:
            if pod_owner.get(uid) != ta["metadata"]["uid"]:
                found["pod_not_owned_by_its_action"].append(f"{pod_name} {uid}: controller owner {pod_owner.get(uid) or 'none'}")
    return found


def _progress(ta: dict[str, Any] | None) -> str:
    if ta is None:
        return "gone"
    conds = {cond["type"]: cond.get("reason") for cond in (ta.get("status") or {}).get("conditions") or []}
    return f"Progressing={conds.get(c.CONDITION_PROGRESSING)}, attempts={(ta.get('status') or {}).get('attempts')}"


class Schedule:
    """Fires `fault` every `every` seconds (the first `every` after `begin`), at most `limit` times (None: for as long
    as the burst runs), when ticked by
    the thread that polls: an operator a fault starts must be started by a thread that outlives it, since the
    operator dies with the thread that started it (PR_SET_PDEATHSIG, tests/support/processes.py)."""

    def __init__(self, fault: Callable[[], None], every: float, limit: int | None):
        self.fault, self.every, self.limit = fault, every, limit
        self.fired = 0
        self.due: float | None = None

    def begin(self) -> None:
        if self.due is None:
            self.due = time.monotonic() + self.every

    def tick(self) -> None:
        if self.due is not None and (self.limit is None or self.fired < self.limit) and time.monotonic() >= self.due:
            self.fault()
            self.fired += 1
            self.due = time.monotonic() + self.every


def run_burst(
    kube: Kube,
    namespace: str,
    operator: SupervisedOperator,
    *,
    count: int,
    burst: str,
    fault: Callable[[], None],
    every: float,
    limit: int | None,
    timeout: float,
    after_creation: bool = False,
) -> dict[str, Any]:
    """Create the burst while the fault fires on its schedule (from the start, or once every action exists when the
    fault would break the creates: an API server outage), wait until all are terminal (or `timeout`), check.
    Returns the figures: counts of each check, the faults fired, how long it took, the first offenders."""
    objects, expected = burst_actions(namespace, count, burst)
    selector = f"{SELECTOR_LABEL}={burst}"
    started = time.monotonic()
    created: list[float] = []

    def create() -> None:
        create_all(kube, objects)
        created.append(time.monotonic() - started)

    def tick() -> None:
        operator.supervise()
        if created or not after_creation:
            schedule.begin()
        schedule.tick()

    schedule = Schedule(fault, every, limit)
    with PodHistory(kube, namespace) as history:
        creating = threading.Thread(target=create, daemon=True)
        creating.start()
        # A bounded schedule fires every fault, however fast the burst ends (a fast operator left the last kills out): the
        # later ones hit an operator restarting onto finished actions, which must not disturb them either.
        _, ended = wait_terminal(kube, namespace, expected, timeout, selector, tick=tick,
                                 until=None if limit is None else lambda: schedule.fired >= limit)
        creating.join()
        elapsed = time.monotonic() - started
        time.sleep(3)  # the pod watch catches up with the last pods
        actions = {o["metadata"]["name"]: o for o in list_retrying(kube, "taskactions", namespace, selector)}
    found = violations(expected, actions, history.uids, history.owner)
    return {
        "actions": count,
        "failing_by_design": sum(1 for o in expected.values() if o == "fail"),
        "faults": schedule.fired,
        "created_seconds": round(created[0], 1) if created else None,
        "all_terminal_seconds": round(max(ended.values()) - started, 1) if len(ended) == count else None,
        "elapsed_seconds": round(elapsed, 1),
        "pods_seen": sum(len(u) for u in history.uids.values()),
        "operator_restarts": operator.restarts,
        **{check: len(offenders) for check, offenders in found.items()},
        "examples": {check: offenders[:5] for check, offenders in found.items() if offenders},
    }
