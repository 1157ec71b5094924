"""Making the client: credentials from a kubeconfig or the pod's service account, one aiohttp session."""

from __future__ import annotations

import aiohttp
from kubernetes_asyncio import client, config

from .. import redact
from .api import DEFAULT_TIMEOUT_SECONDS, KubeApi

CLIENT_QPS = 50.0
CLIENT_BURST = 100
CLIENT_INFLIGHT = 16


def without_env_lookups(api_client: client.ApiClient) -> client.ApiClient:
    """kubernetes_asyncio's session trusts the environment, so aiohttp reads ~/.netrc in a thread on every request
    (a tenth of the operator's CPU under load). We talk to the API server only: keep the connection pool, drop the
    lookups."""
    rest = api_client.rest_client
    trusting = rest.pool_manager
    rest.pool_manager = aiohttp.ClientSession(connector=trusting.connector, trust_env=False, read_bufsize=2**21)
    trusting.detach()
    return api_client


async def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    in_cluster_first: bool = False,
    qps: float = CLIENT_QPS,
    burst: int = CLIENT_BURST,
    max_inflight: int = CLIENT_INFLIGHT,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> KubeApi:
    """A client from the kubeconfig (KUBECONFIG, ~/.kube/config) or the in-cluster service account; a process in a
    pod (the operator) tries its service account first, a person's tool (the CLI) the kubeconfig."""
    configuration = client.Configuration()

    async def from_kubeconfig() -> None:
        await config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)

    def from_cluster() -> None:
        config.load_incluster_config(client_configuration=configuration)

    if in_cluster_first:
        try:
            from_cluster()
        except config.ConfigException:
            await from_kubeconfig()
    else:
        try:
            await from_kubeconfig()
        except (config.ConfigException, FileNotFoundError, TypeError):
            if kubeconfig:
                raise
            from_cluster()
    # The token (or a refreshed one: a JWT, caught by its shape) is never to show in what the process writes.
    redact.register(key.removeprefix("Bearer ").strip() for key in configuration.api_key.values())
    # No cap on the pool: the in-flight slots bound the short requests, and a cap would count the long-lived watches
    # (two per watched namespace, the actions service's) against them: the requests queued for a free connection.
    configuration.connection_pool_maxsize = 0
    return KubeApi(without_env_lookups(client.ApiClient(configuration)), qps, burst, max_inflight, timeout_seconds)
