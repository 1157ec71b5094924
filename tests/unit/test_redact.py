"""Secret values out of what the operator writes (redact.py): the values it registered and anything shaped like a
ServiceAccount token, in text and in a status (compared redacted, so a status holding one is written once); the log's
side is test_logs."""

from __future__ import annotations

import pytest

from taskaction_operator import redact
from taskaction_operator.reconcile.status import status_patch

TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJrdWJlcm5ldGVzL3NlcnZpY2VhY2NvdW50In0.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg"


pytestmark = pytest.mark.usefixtures("empty_redaction_registry")


def test_registered_values_and_tokens_are_replaced_wherever_they_stand() -> None:
    redact.register(["AKIAEXAMPLE123", "wJalrXUtnFEMI/K7MDENG", None, "short"])
    assert redact.text("AWS_ACCESS_KEY_ID=AKIAEXAMPLE123 AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG") == (
        "AWS_ACCESS_KEY_ID=[redacted] AWS_SECRET_ACCESS_KEY=[redacted]"
    )
    assert redact.text(f"Authorization: Bearer {TOKEN}") == "Authorization: Bearer [redacted]"
    # Values too short to tell from words are not registered.
    assert redact.text("a short story") == "a short story"


def test_a_value_inside_another_goes_after_it() -> None:
    redact.register(["secret-value-1", "secret-value-1-and-more"])
    assert redact.text("x secret-value-1-and-more y") == "x [redacted] y"


def test_the_environment_s_credentials() -> None:
    env = {"AWS_SECRET_ACCESS_KEY": "from-the-env-123", "HOME": "/root", "FLYTE_AWS_ACCESS_KEY_ID": "flyte-key-1234"}
    assert sorted(redact.from_environment(env)) == ["flyte-key-1234", "from-the-env-123"]


def test_a_status_holding_a_secret_is_written_redacted_and_only_once() -> None:
    redact.register(["sk-very-secret-1"])
    new = {"errorState": {"code": "Error", "kind": "USER", "message": "AWS_SECRET_ACCESS_KEY=sk-very-secret-1"}, "attempts": 1}
    patch = status_patch({}, new)
    assert patch == {"errorState": {"code": "Error", "kind": "USER", "message": "AWS_SECRET_ACCESS_KEY=[redacted]"}, "attempts": 1}
    assert status_patch(patch, new) is None
