"""Garbage collection of finished TaskActions older than a TTL, by their `flyte.org/completed-time` label
(garbage_collector.go): one sweep at start, then one every interval, paginated, NotFound counted as already gone."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from .. import metrics
from ..api import constants as c
from ..api.times import completed_time_label
from ..kube import TRANSPORT_ERRORS, ApiError, KubeApi

logger = logging.getLogger(__name__)
SELECTOR = f"{c.LABEL_TERMINATION_STATUS}={c.LABEL_VALUE_TERMINATED},{c.LABEL_COMPLETED_TIME}"


def should_delete(completed_time: str, ttl_seconds: float, now: datetime) -> bool:
    """The label is minute-precise and ordered as text, so comparing text is comparing times (as upstream)."""
    if not completed_time:
        return False
    if ttl_seconds <= 0:
        return True
    return completed_time < completed_time_label(now - timedelta(seconds=ttl_seconds))


async def sweep(api: KubeApi, namespaces: list[str | None], ttl_seconds: float, page_size: int, now: datetime) -> dict[str, int]:
    counts = {"deleted": 0, "already_gone": 0, "failed": 0}
    for namespace in namespaces:
        cont: str | None = None
        while True:
            page = await api.list_taskactions(namespace, SELECTOR, page_size, cont)
            for item in page.get("items") or []:
                meta = item["metadata"]
                if not should_delete((meta.get("labels") or {}).get(c.LABEL_COMPLETED_TIME, ""), ttl_seconds, now):
                    continue
                try:
                    outcome = "deleted" if await api.delete_taskaction(meta["namespace"], meta["name"]) else "already_gone"
                except ApiError as exc:
                    logger.warning("garbage collection of %s/%s failed: %s", meta["namespace"], meta["name"], exc)
                    outcome = "failed"
                counts[outcome] += 1
                metrics.GC_DELETIONS.labels(outcome).inc()
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                break
    return counts


async def run_forever(
    api: KubeApi, namespaces: list[str], interval: float, ttl_seconds: float, page_size: int, swept: Callable[[], None]
) -> None:
    """`swept` is told after every sweep that went through (the supervisor's beat)."""
    scopes: list[str | None] = list(namespaces) or [None]
    while True:
        started = time.monotonic()
        error = False
        try:
            counts = await sweep(api, scopes, ttl_seconds, page_size, datetime.now(UTC))
            if counts["deleted"]:
                logger.info("garbage collection: deleted %d finished TaskActions", counts["deleted"])
            swept()
        except (ApiError, *TRANSPORT_ERRORS) as exc:
            error = True
            logger.warning("garbage collection sweep failed: %s", exc or type(exc).__name__)
        metrics.GC_SWEEP_SECONDS.labels(str(error).lower()).observe(time.monotonic() - started)
        await asyncio.sleep(interval)
