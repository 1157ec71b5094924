"""kube.connect: the credentials of a kubeconfig (a token, a token file read again as it is rotated, the first of
each name across KUBECONFIG's files), sent to a loopback API server as kubectl would send them."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from taskaction_operator.kube import connect
from taskaction_operator.kube.connect import ConfigError

from .loopback import serving

connect_module = importlib.import_module("taskaction_operator.kube.connect")  # `kube.connect` names the function


@asynccontextmanager
async def api_server() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A server answering every GET of a namespace, and the Authorization headers it was sent."""
    seen: list[str | None] = []

    async def namespace(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"kind": "Namespace", "metadata": {"name": request.match_info["name"]}})

    async with serving({"/api/v1/namespaces/{name}": namespace}) as url:
        yield url, seen


def kubeconfig(path: Path, server: str, user: dict[str, Any], context: str = "here", current: str | None = "here") -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server}}],
        "users": [{"name": "me", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "local", "user": "me"}}],
        "current-context": current,
    }
    path.write_text(yaml.safe_dump(document))
    return path


async def test_a_token_is_sent_as_a_bearer_token(tmp_path: Path) -> None:
    async with api_server() as (server, seen):
        api = await connect(str(kubeconfig(tmp_path / "config", server, {"token": "abc"})))
        try:
            assert await api.ensure_namespace("default") is False
        finally:
            await api.close()
    assert seen == ["Bearer abc"]


async def test_a_token_file_is_read_again_once_rotated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    async with api_server() as (server, seen):
        api = await connect(str(kubeconfig(tmp_path / "config", server, {"tokenFile": "token"})))  # relative to it
        try:
            await api.ensure_namespace("default")
            token.write_text("second\n")
            await api.ensure_namespace("default")  # within the minute: the token read before
            monkeypatch.setattr(connect_module, "TOKEN_REREAD_SECONDS", 0.0)
            await api.ensure_namespace("default")
        finally:
            await api.close()
    assert seen == ["Bearer first", "Bearer first", "Bearer second"]


async def test_the_first_file_of_kubeconfig_wins_and_the_context_can_be_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with api_server() as (server, seen):
        first = kubeconfig(tmp_path / "first", server, {"token": "first"}, context="other", current=None)
        second = kubeconfig(tmp_path / "second", "http://127.0.0.1:1", {"token": "second"})
        monkeypatch.setenv("KUBECONFIG", f"{first}:{tmp_path / 'missing'}:{second}")
        # The current context is the second file's; its user and cluster are the first file's (same names).
        for api in (await connect(), await connect(context="other")):
            try:
                await api.ensure_namespace("default")
            finally:
                await api.close()
    assert seen == ["Bearer first", "Bearer first"]


async def test_an_unknown_context_or_no_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no context 'elsewhere'"):
        await connect(str(kubeconfig(tmp_path / "config", "http://127.0.0.1:1", {})), "elsewhere")
    with pytest.raises(ConfigError, match="no kubeconfig"):
        await connect(str(tmp_path / "missing"))


async def test_in_a_pod_the_service_account_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import certifi

    monkeypatch.setattr(connect_module, "SERVICE_ACCOUNT", tmp_path)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError):
        connect_module.in_cluster()
    shutil.copy(certifi.where(), tmp_path / "ca.crt")
    (tmp_path / "token").write_text("pod-token\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    transport = connect_module.in_cluster()
    try:
        assert transport.server == "https://[fd00::1]:443"
        assert await transport._authorization() == "Bearer pod-token"  # type: ignore[misc]
    finally:
        await transport.close()
