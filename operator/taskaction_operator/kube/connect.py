"""Making the client: credentials from a kubeconfig or the pod's service account, one aiohttp session.

The service account and kubeconfigs with a token, a token file or a client certificate are read here; a kubeconfig
user with an `exec` plugin or an `auth-provider` (a person's cloud login, not the operator's) is handed to
kubernetes_asyncio's loader, imported only then.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from .. import redact
from .api import DEFAULT_TIMEOUT_SECONDS, KubeApi
from .transport import Authorization, Transport

CLIENT_QPS = 50.0
CLIENT_BURST = 100
CLIENT_INFLIGHT = 16
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD_SECONDS = 60.0  # the kubelet rotates a projected token well before it expires


class ConfigError(Exception):
    """No usable credentials where they were looked for."""


def _token_file(path: Path) -> Authorization:
    """A bearer token read from a file, read again every minute (it is rotated)."""
    cached: list[Any] = [None, 0.0]

    async def authorization() -> str | None:
        if cached[0] is None or time.monotonic() - cached[1] > TOKEN_REREAD_SECONDS:
            token = path.read_text().strip()
            redact.register([token])
            cached[:] = [f"Bearer {token}", time.monotonic()]
        return cached[0]

    return authorization


def _fixed(value: str) -> Authorization:
    async def authorization() -> str:
        return value

    return authorization


def in_cluster() -> Transport:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    token = SERVICE_ACCOUNT / "token"
    if not host or not port or not token.is_file():
        raise ConfigError("not in a pod with a service account")
    tls = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    return Transport(server, tls, _token_file(token))


def _kubeconfig_paths(kubeconfig: str | None) -> list[Path]:
    if kubeconfig:
        return [Path(kubeconfig).expanduser()]
    listed = os.environ.get("KUBECONFIG") or "~/.kube/config"
    return [Path(p).expanduser() for p in listed.split(os.pathsep) if p]


def _merged(paths: list[Path]) -> dict[str, Any]:
    """The kubeconfig files as kubectl merges them: the first of each name and the first current-context win."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": None}
    found = False
    for path in paths:
        if not path.is_file():
            continue
        found = True
        document = yaml.safe_load(path.read_text()) or {}
        for section in ("clusters", "users", "contexts"):
            for entry in document.get(section) or []:
                merged[section].setdefault(entry.get("name"), {**(entry.get(section[:-1]) or {}), "_dir": path.parent})
        merged["current-context"] = merged["current-context"] or document.get("current-context")
    if not found:
        raise ConfigError(f"no kubeconfig at {os.pathsep.join(map(str, paths))}")
    return merged


def _material(entry: dict[str, Any], key: str) -> tuple[Path | None, bytes | None]:
    """A file named by `key` (relative to its kubeconfig) or inline as `key-data` (base64)."""
    if entry.get(f"{key}-data"):
        return None, base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        return entry["_dir"] / Path(entry[key]).expanduser(), None
    return None, None


def _tls(cluster: dict[str, Any], user: dict[str, Any]) -> ssl.SSLContext:
    ca_file, ca_data = _material(cluster, "certificate-authority")
    tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None, cadata=ca_data.decode() if ca_data else None)
    if cluster.get("insecure-skip-tls-verify"):
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    (cert_file, cert_data), (key_file, key_data) = _material(user, "client-certificate"), _material(user, "client-key")
    if cert_file or cert_data:
        with tempfile.TemporaryDirectory(prefix="kubeconfig-") as scratch:  # ssl loads a chain from files only
            if cert_data:
                cert_file = Path(scratch, "cert")
                cert_file.write_bytes(cert_data)
            if key_data:
                key_file = Path(scratch, "key")
                key_file.write_bytes(key_data)
            tls.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return tls


def _authorization(user: dict[str, Any]) -> Authorization | None:
    if user.get("token"):
        redact.register([user["token"]])
        return _fixed(f"Bearer {user['token']}")
    if user.get("tokenFile"):
        return _token_file(user["_dir"] / Path(user["tokenFile"]).expanduser())
    if user.get("username") and user.get("password"):
        basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
        return _fixed(f"Basic {basic}")
    return None


async def from_kubeconfig(kubeconfig: str | None = None, context: str | None = None) -> Transport:
    config = _merged(_kubeconfig_paths(kubeconfig))
    name = context or config["current-context"]
    chosen = config["contexts"].get(name)
    if chosen is None:
        raise ConfigError(f"no context {name!r} in the kubeconfig")
    cluster, user = config["clusters"].get(chosen.get("cluster")), config["users"].get(chosen.get("user"), {"_dir": Path()})
    if cluster is None or not cluster.get("server"):
        raise ConfigError(f"no server for context {name!r} in the kubeconfig")
    if user.get("exec") or user.get("auth-provider"):
        return await _from_plugin(kubeconfig, name)
    return Transport(cluster["server"], _tls(cluster, user), _authorization(user), cluster.get("tls-server-name"))


async def _from_plugin(kubeconfig: str | None, context: str) -> Transport:
    """kubernetes_asyncio runs the exec plugin (or the auth provider) and refreshes what it returns."""
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)

    async def authorization() -> str | None:
        if configuration.refresh_api_key_hook is not None:
            await configuration.refresh_api_key_hook(configuration)
        value = configuration.get_api_key_with_prefix("authorization") or configuration.get_api_key_with_prefix("BearerToken")
        if value:
            redact.register([value.removeprefix("Bearer ").strip()])
        return value

    tls = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if configuration.cert_file:
        tls.load_cert_chain(configuration.cert_file, configuration.key_file)
    if not configuration.verify_ssl:
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    return Transport(configuration.host, tls, authorization, configuration.tls_server_name)


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
    if in_cluster_first:
        try:
            transport = in_cluster()
        except ConfigError:
            transport = await from_kubeconfig(kubeconfig, context)
    else:
        try:
            transport = await from_kubeconfig(kubeconfig, context)
        except ConfigError:
            if kubeconfig:
                raise
            transport = in_cluster()
    return KubeApi(transport, qps, burst, max_inflight, timeout_seconds)
