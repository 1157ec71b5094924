"""Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it.

One replica holds the Lease and runs the operator; the others wait. The holder renews every `retry` seconds; a
Lease not renewed for `duration` seconds may be taken. As in client-go, "not renewed" is judged by this replica's
own clock: the Lease must have stayed unchanged for `duration` since this replica last saw it change, so no two
nodes' clocks are ever compared. A holder that cannot renew within `renew_deadline` stops leading (the process
exits and is restarted, as controller-runtime does); each Lease request has a budget of a quarter of that deadline,
so a hanging connection cannot keep a leader acting past it. On a clean shutdown the holder releases the Lease for an
immediate takeover.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import Any

from .. import metrics
from ..api.times import rfc3339_micro, utcnow
from ..kube import TRANSPORT_ERRORS, ApiError, KubeApi

logger = logging.getLogger(__name__)


def lease_record(lease: dict[str, Any]) -> tuple[Any, ...]:
    """What changes whenever the holder renews or the Lease changes hands."""
    spec = lease.get("spec") or {}
    return (spec.get("holderIdentity"), spec.get("renewTime"), spec.get("acquireTime"), spec.get("leaseTransitions"))


class LeaderElector:
    def __init__(self, api: KubeApi, namespace: str, name: str, identity: str, duration: float, renew_deadline: float, retry: float):
        self.api = api
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.duration = duration
        self.renew_deadline = renew_deadline
        self.retry = retry
        self._status = metrics.LEADER_STATUS.labels(name)
        self.is_leader = False
        self.request_timeout = max(renew_deadline / 4, 0.5)
        self._observed: tuple[tuple[Any, ...], float] | None = None  # the Lease as last seen change, and when (monotonic)

    @property
    def is_leader(self) -> bool:
        return self._is_leader

    @is_leader.setter
    def is_leader(self, leading: bool) -> None:
        self._is_leader = leading
        self._status.set(1 if leading else 0)

    def may_take(self, lease: dict[str, Any]) -> bool:
        """Ours to take when we hold it, nobody does, or it has not changed for its duration since we saw it change."""
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        if not holder or holder == self.identity:
            return True
        record, now = lease_record(lease), time.monotonic()
        if self._observed is None or self._observed[0] != record:
            self._observed = (record, now)
            return False
        return now - self._observed[1] >= float(spec.get("leaseDurationSeconds") or 0)

    def _spec(self, lease: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
        spec = dict((lease or {}).get("spec") or {})
        if spec.get("holderIdentity") != self.identity:
            spec["acquireTime"] = rfc3339_micro(now)
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (1 if spec.get("holderIdentity") else 0)
        spec.update(holderIdentity=self.identity, renewTime=rfc3339_micro(now), leaseDurationSeconds=int(self.duration))
        return spec

    async def try_acquire_or_renew(self) -> bool:
        now = utcnow()
        lease = await self.api.get_lease(self.namespace, self.name, self.request_timeout)
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": self.name}, "spec": self._spec(None, now)}
            try:
                await self.api.create_lease(self.namespace, body, self.request_timeout)
                return True
            except ApiError as exc:
                if exc.status == 409:
                    return False
                raise
        if not self.may_take(lease):
            return False
        lease["spec"] = self._spec(lease, now)
        try:
            await self.api.replace_lease(self.namespace, self.name, lease, self.request_timeout)  # resourceVersion guards the race
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
            except (ApiError, *TRANSPORT_ERRORS) as exc:
                logger.warning("leader election: %s", exc or type(exc).__name__)
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
            except (ApiError, *TRANSPORT_ERRORS) as exc:
                logger.warning("renewing the Lease failed: %s", exc or type(exc).__name__)
            if asyncio.get_running_loop().time() - last_renewed > self.renew_deadline:
                logger.error("could not renew the Lease for %.0fs", self.renew_deadline)
                break
        self.is_leader = False

    async def release(self) -> None:
        """Give the Lease up at once so that a standby takes over without waiting for it to expire."""
        if not self.is_leader:
            return
        try:
            lease = await self.api.get_lease(self.namespace, self.name, self.request_timeout)
            if lease is None or (lease.get("spec") or {}).get("holderIdentity") != self.identity:
                return
            lease["spec"]["holderIdentity"] = None
            lease["spec"]["leaseDurationSeconds"] = 1
            await self.api.replace_lease(self.namespace, self.name, lease, self.request_timeout)
        except (ApiError, *TRANSPORT_ERRORS) as exc:
            logger.warning("releasing the Lease failed: %s", exc)
        self.is_leader = False
