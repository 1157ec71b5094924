"""API writes counted by the API server itself: `apiserver_request_total` from its /metrics, before and after a phase.

Every verb but GET, LIST and WATCH is a write. Counts are keyed by "resource[/subresource] VERB" (and the API group
when it is not the core one or flyte.org's), summed over response codes, so refused and conflicting writes count too:
they cost the API server as much.
"""

from __future__ import annotations

import re
from collections import Counter

READS = {"GET", "LIST", "WATCH", "CONNECT"}
_SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

# Writes no executor makes, whoever's side it is: the scheduler's bindings and its events.k8s.io Events, kwok's pod
# and node status, and the Leases of the control plane's leader elections and kwok's node heartbeats.
NOT_THE_EXECUTORS = ("pods/binding POST", "pods/status PATCH", "pods/status PUT", "nodes/status PATCH", "nodes/status PUT")


def parse(metrics_text: str) -> Counter:
    counts: Counter = Counter()
    for match in _SAMPLE.finditer(metrics_text):
        labels = dict(_LABEL.findall(match["labels"]))
        verb = labels.get("verb", "")
        if verb in READS:
            continue
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        group = labels.get("group", "")
        if group and group != "flyte.org":
            resource = f"{resource}.{group}"
        counts[f"{resource} {verb}"] += float(match["value"])
    return counts


def difference(before: Counter, after: Counter) -> dict[str, int]:
    return {key: int(after[key] - before.get(key, 0)) for key in sorted(after) if after[key] - before.get(key, 0) > 0}


def without_heartbeats(counts: Counter) -> dict[str, float]:
    """The counts that stop moving when a phase is over: not the Leases and node status written on a timer."""
    return {key: n for key, n in counts.items() if not key.startswith(("leases.", "nodes"))}


def by_executor(writes: dict[str, int], bench_creates: str) -> dict[str, int]:
    """The writes the side's executor made: all of them but the bench's own creates and the others' (above)."""
    others = (*NOT_THE_EXECUTORS, bench_creates)
    return {key: n for key, n in writes.items()
            if key not in others and not key.endswith((".events.k8s.io POST", ".events.k8s.io PATCH")) and not key.startswith("leases.")}
