"""Storage tier: a real S3 server (SeaweedFS, loopback only) for the operator's output checks and the Flyte SDK."""

from __future__ import annotations

import os

import pytest

from tests.support.seaweedfs import seaweedfs_fixture

seaweedfs = seaweedfs_fixture(scope="session")


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings and obstore read TASKACTION_*, AWS_* and FLYTE_AWS_*: the tier must not depend on the shell it runs in
    (and must never reach a real AWS endpoint)."""
    for key in list(os.environ):
        if key.upper().startswith(("TASKACTION_", "AWS_", "FLYTE_AWS_")):
            monkeypatch.delenv(key, raising=False)
