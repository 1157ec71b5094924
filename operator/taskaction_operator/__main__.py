"""`taskaction-operator`: run the operator (settings from TASKACTION_* environment variables)."""

from __future__ import annotations

import asyncio
import sys

# kopf imports kubernetes_asyncio whenever it can (to recognise its model objects, and for its default registry to
# log in with it): all 1,500 of its models, 37 MiB of the operator's memory, for nothing (the operator hands kopf no
# model and logs kopf in itself, controller/handlers.py). Hidden while kopf loads and the handlers register;
# importable again after (kube/connect.py imports it for a kubeconfig's exec plugin).
sys.modules.setdefault("kubernetes_asyncio", None)  # type: ignore[arg-type]
import kopf  # noqa: E402

from .controller import handlers  # noqa: E402,F401  (registers the kopf handlers)

if sys.modules.get("kubernetes_asyncio") is None:
    del sys.modules["kubernetes_asyncio"]

import prometheus_client  # noqa: E402
import uvloop  # noqa: E402

from . import health, logs, redact, tracing  # noqa: E402
from .actions.server import ActionsServer  # noqa: E402
from .controller.leader import LeaderElector  # noqa: E402
from .kube import KubeApi, connect  # noqa: E402
from .settings import Settings, load_settings  # noqa: E402

async def _api(settings: Settings) -> KubeApi:
    """The one client of the process: leader election, the controller and the actions service share its pool."""
    return await connect(
        in_cluster_first=True,
        qps=settings.api_qps,
        burst=settings.api_burst,
        max_inflight=settings.max_inflight_requests,
        timeout_seconds=settings.api_timeout_seconds,
    )


async def run(settings: Settings) -> int:
    if settings.metrics_port:
        prometheus_client.start_http_server(settings.metrics_port, addr=settings.bind_address)
    api = await _api(settings)
    elector = (
        LeaderElector(
            api,
            settings.leader_election_namespace,
            settings.leader_election_lease,
            settings.leader_election_identity,
            settings.lease_duration_seconds,
            settings.lease_renew_deadline_seconds,
            settings.lease_retry_seconds,
        )
        if settings.leader_election
        else None
    )
    ready_flag = asyncio.Event()
    memo = kopf.Memo(settings=settings, api=api)  # the kopf startup handler puts the controller in it

    def ready() -> bool:
        controller = memo.get("controller")
        return ready_flag.is_set() and controller is not None and controller.listed() and (elector is None or elector.is_leader)

    def alive() -> bool:
        controller = memo.get("controller")
        return controller is None or controller.alive()

    probes = await health.start(settings.bind_address, settings.health_port, ready, alive) if settings.health_port else None
    # Every replica serves the actions service (it only creates and reads TaskActions), leader or not.
    actions = ActionsServer(api, settings, settings.actions_service_address) if settings.actions_service_address else None
    try:
        if actions is not None:
            await actions.start()
        if elector is not None:
            await elector.acquire()
        stop_flag = asyncio.Event()
        operator = asyncio.create_task(
            kopf.operator(
                standalone=True,
                clusterwide=not settings.namespaces,
                namespaces=settings.namespaces,
                memo=memo,
                ready_flag=ready_flag,
                stop_flag=stop_flag,
            )
        )
        if elector is None:
            await operator
            return 0
        leading = asyncio.create_task(elector.keep_leading())
        done, _ = await asyncio.wait({operator, leading}, return_when=asyncio.FIRST_COMPLETED)
        if leading in done:
            # Lost the Lease: stop at once; the process is restarted and queues up as a standby.
            stop_flag.set()
            await operator
            return 1
        leading.cancel()
        await elector.release()
        return 0
    finally:
        if actions is not None:
            await actions.stop()
        if probes is not None:
            await probes.cleanup()
        await api.close()


def main() -> None:
    settings = load_settings()
    redact.register([settings.storage_access_key_id, settings.storage_secret_access_key, *redact.from_environment()])
    logs.configure(settings.log_format, settings.log_level)
    tracing.configure(settings.tracing_otlp_endpoint)
    try:
        # uvloop: the event loop's own work (callbacks, sockets, timers) costs a fraction of asyncio's, and the
        # operator is one event loop doing many small things.
        code = uvloop.run(run(settings))
    finally:
        tracing.shutdown()
    sys.exit(code)


if __name__ == "__main__":
    main()
