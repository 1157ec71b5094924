from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from taskaction_operator import settings
from taskaction_operator.settings import Settings


def test_namespaces_come_from_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKACTION_NAMESPACES", '["team-a", "b2"]')
    assert Settings().namespaces == ["team-a", "b2"]


@pytest.mark.parametrize("name", ["team-*", "!kube-system", "Team-A", "-a", "a" * 64, ""])
def test_a_namespace_is_a_name_never_a_pattern(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Each namespace is watched by name (controller/handlers.py): a glob would silently watch nothing."""
    monkeypatch.setenv("TASKACTION_NAMESPACES", f'["{name}"]')
    with pytest.raises(ValidationError, match="namespaces.0"):
        Settings()


@pytest.mark.parametrize("files", [{"actions_service_tls_cert_file": "/tls/tls.crt"}, {"actions_service_tls_key_file": "/tls/tls.key"}])
def test_the_actions_services_tls_needs_its_certificate_and_its_key(files: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="TLS needs both"):
        Settings(**files)
    assert Settings(actions_service_tls_cert_file="/tls/tls.crt", actions_service_tls_key_file="/tls/tls.key").actions_service_tls_key_file == "/tls/tls.key"


def test_docs_settings_md_is_generated_from_the_settings() -> None:
    committed = (Path(__file__).resolve().parents[2] / "docs" / "settings.md").read_text()
    assert committed == settings.markdown(), "docs/settings.md is stale: python -m taskaction_operator.settings --markdown > docs/settings.md"
    assert all(field.description for field in settings.Settings.model_fields.values()), "a setting without a description"
    assert committed.count("\n| `TASKACTION_") == len(settings.Settings.model_fields)


def test_the_settings_module_prints_the_reference() -> None:
    proc = subprocess.run([sys.executable, "-m", "taskaction_operator.settings", "--markdown"], capture_output=True, text=True, check=True)
    assert proc.stdout == settings.markdown()
