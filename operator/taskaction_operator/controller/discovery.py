"""Waiting for a resource to be served, for an operator started before its CRD was installed."""

from __future__ import annotations

import asyncio
import logging

from ..kube import KubeApi

logger = logging.getLogger(__name__)


async def wait_until_served(api: KubeApi, group: str, version: str, plural: str, interval: float = 2.0) -> None:
    """Return once the API server serves group/version/plural; log once while it does not."""
    told = False
    while plural not in await api.served_resources(group, version):
        if not told:
            logger.warning("%s.%s/%s is not served yet (is the CRD installed?); waiting for it", plural, group, version)
            told = True
        await asyncio.sleep(interval)
    if told:
        logger.info("%s.%s/%s is served now", plural, group, version)
