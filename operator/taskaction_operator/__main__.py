"""`taskaction-operator`: run the operator (settings from TASKACTION_* environment variables)."""

from __future__ import annotations

import asyncio
import logging
import sys

import kopf
import prometheus_client

from .controller import handlers  # noqa: F401  (registers the kopf handlers)
from .settings import Settings


def _configure_logging(settings: Settings) -> None:
    if settings.log_format == "json":
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format='{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","message":%(message)r}',
        )
    else:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def run(settings: Settings) -> None:
    if settings.metrics_port:
        prometheus_client.start_http_server(settings.metrics_port, addr=settings.bind_address)
    await kopf.operator(
        standalone=True,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces or None,
        memo=kopf.Memo(settings=settings),
        liveness_endpoint=f"http://{settings.bind_address}:{settings.health_port}/healthz" if settings.health_port else None,
    )


def main() -> None:
    settings = Settings()
    _configure_logging(settings)
    # kopf logs every handled watch event at INFO: at thousands of actions that is noise, not information.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
