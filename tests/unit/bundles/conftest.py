from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith(("AWS_", "FLYTE_AWS_")):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "termination-log"
