from __future__ import annotations

import os
from pathlib import Path

import pytest

from taskaction_operator.bundles import tar_safety


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.upper().startswith(("AWS_", "FLYTE_AWS_")):
            monkeypatch.delenv(key, raising=False)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "termination-log"


@pytest.fixture(params=["data-filter", "no-data-filter"])
def floor(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each extraction test twice: with tarfile's data filter (Python >= 3.11.4), and without it (Debian bookworm's
    3.11.2, the Python of the images e2e/build-images.sh makes), where our own checks and modes hold alone."""
    if request.param == "no-data-filter":
        monkeypatch.setattr(tar_safety, "_DATA_FILTER", None)
    return str(request.param)
