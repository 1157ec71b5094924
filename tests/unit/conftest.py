"""Unit tier: pure functions and decisions only; no cluster, no network, no mocks of the API server."""

from __future__ import annotations

import os

import pytest

from taskaction_operator.settings import Settings


@pytest.fixture(autouse=True)
def _no_operator_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read TASKACTION_* from the environment: the tier must not depend on the shell it runs in."""
    for key in list(os.environ):
        if key.upper().startswith("TASKACTION_"):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def settings() -> Settings:
    # Reading outputs from storage after a pod succeeds has its own tests (test_outputs_check.py).
    return Settings(read_outputs=False)


@pytest.fixture
def empty_redaction_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """redact.py's registry of the process's secret values, empty for one test (a process fills it at start)."""
    from taskaction_operator import redact

    monkeypatch.setattr(redact, "_known", set())
    monkeypatch.setattr(redact, "_longest_first", [])
