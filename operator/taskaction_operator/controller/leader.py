"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

One replica holds the Lease and runs the operator; the others wait. The holder renews every `retry` seconds; a
Lease not renewed for `duration` seconds may be taken. A holder that cannot renew within `renew_deadline` stops
leading (the process exits and is restarted, as controller-runtime does), so two replicas never act at once for
longer than the clock skew allows. On a clean shutdown the holder releases the Lease for an immediate takeover.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from ..api.times import parse_time, rfc3339_micro, utcnow
from ..kube import ApiError, KubeApi

logger = logging.getLogger(__name__)


def may_take(lease: dict[str, Any], identity: str, now: datetime) -> bool:
    """A Lease is ours to take when we hold it, nobody does, or its holder stopped renewing it."""
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity")
    if not holder or holder == identity:
        return True
    renewed = parse_time(spec.get("renewTime")) or parse_time(spec.get("acquireTime"))
    duration = spec.get("leaseDurationSeconds") or 0
    return renewed is None or now >= renewed + timedelta(seconds=duration)


class LeaderElector:
    def __init__(self, api: KubeApi, namespace: str, name: str, identity: str, duration: float, renew_deadline: float, retry: float):
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew_deadline = renew_deadline
        self.retry = retry
        self.is_leader = False

    def _spec(self, lease: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        spec = dict((lease or {}).get("spec") or {})
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = rfc3339_micro(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if spec.get("holderIdentity") else 0)
        spec.update(holderIdentity=self.identity, renewTime=rfc3339_micro(now), leaseDurationSeconds=int(self.duration))
        return spec

    async def try_acquire_or_renew(self) -> bool:
        now = utcnow()
        lease = await self.api.get_lease(self.namespace, self.name)
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": self.name}, "spec": self._spec(None, now)}
            try:
                await self.api.create_lease(self.namespace, body)
                return True
            except ApiError as exc:
                if exc.status == 409:
                    return False
                raise
        if not may_take(lease, self.identity, now):
            return False
        lease["spec"] = self._spec(lease, now)
        try:
            await self.api.replace_lease(self.namespace, self.name, lease)  # resourceVersion guards the race
            return True
        except ApiError as exc:
            if exc.status == 409:
                return False
            raise

    async def acquire(self) -> None:
        logger.info("waiting to lead (Lease %s/%s) as %s", self.namespace, self.name, self.identity)
        while True:
            try:
                if await self.try_acquire_or_renew():
                    self.is_leader = True
                    logger.info("leading as %s", self.identity)
                    return
            except ApiError as exc:
                logger.warning("leader election: %s", exc)
            await asyncio.sleep(self.retry)

    async def keep_leading(self) -> None:
        """Renew until renewal fails for `renew_deadline`; then return (the caller stops the operator)."""
        last_renewed = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self.retry)
            try:
                if await self.try_acquire_or_renew():
                    last_renewed = asyncio.get_running_loop().time()
                    continue
                logger.error("the Lease was taken by another replica")
                break
            except ApiError as exc:
                logger.warning("renewing the Lease failed: %s", exc)
            if asyncio.get_running_loop().time() - last_renewed > self.renew_deadline:
                logger.error("could not renew the Lease for %.0fs", self.renew_deadline)
                break
        self.is_leader = False

    async def release(self) -> None:
        """Give the Lease up at once so that a standby takes over without waiting for it to expire."""
        if not self.is_leader:
            return
        lease = await self.api.get_lease(self.namespace, self.name)
        if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
            return
        lease["spec"]["holderIdentity"] = None
        lease["spec"]["leaseDurationSeconds"] = 1
        try:
            await self.api.replace_lease(self.namespace, self.name, lease)
        except ApiError as exc:
            logger.warning("releasing the Lease failed: %s", exc)
        self.is_leader = False
