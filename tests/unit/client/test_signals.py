"""Signals: the checks in Signal's order, command-line values by declared type, the status write and its retries."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flyteidl2.core import literals_pb2, types_pb2

from taskaction_operator.client import errors, literals, signals

from .builders import DONE, PARENT, FakeApi, cond, signalled


def test_signal_checks() -> None:
    assert signals.check_signal(signalled(), literals.to_literal(True)) is False
    assert signals.check_signal(signalled(True), literals.to_literal(True)) is True  # idempotent
    with pytest.raises(errors.SignalRefused, match="already signalled with True by alice"):
        signals.check_signal(signalled(True), literals.to_literal(False))
    with pytest.raises(errors.SignalRefused, match="already SUCCEEDED"):
        signals.check_signal(signalled(conditions=DONE), literals.to_literal(True))
    with pytest.raises(errors.SignalRefused, match="already TIMED_OUT"):
        signals.check_signal(signalled(conditions=[cond("Failed", "True", "TimedOut")]), literals.to_literal(True))
    with pytest.raises(errors.SignalRefused, match="expects a INTEGER, not a string"):
        signals.check_signal(signalled(simple=types_pb2.INTEGER), literals.to_literal("5"))
    with pytest.raises(errors.SignalRefused, match="not a condition action"):
        signals.check_signal(PARENT, literals.to_literal(True))
    with pytest.raises(errors.SignalRefused, match="primitive literal"):
        signals.check_signal(signalled(), literals_pb2.Literal())


@pytest.mark.parametrize(
    ("text", "simple", "value"),
    [("true", types_pb2.BOOLEAN, True), ("No", types_pb2.BOOLEAN, False), ("42", types_pb2.INTEGER, 42),
     ("2.5", types_pb2.FLOAT, 2.5), ("yes please", types_pb2.STRING, "yes please")],
)
def test_parse_signal_value_by_declared_type(text: str, simple: int, value: Any) -> None:
    assert literals.from_literal(signals.parse_signal_value(text, simple)) == value


def test_parse_signal_value_refuses_what_does_not_fit() -> None:
    with pytest.raises(errors.SignalRefused, match="not a boolean"):
        signals.parse_signal_value("maybe", types_pb2.BOOLEAN)
    with pytest.raises(errors.SignalRefused, match="not an integer"):
        signals.parse_signal_value("4.2", types_pb2.INTEGER)


async def test_signal_writes_the_status_and_retries_conflicts() -> None:
    cond_ta = signalled()
    cond_ta["metadata"]["resourceVersion"] = "7"
    api = FakeApi(cond_ta)
    api.conflicts = 1
    await signals.signal(api, "hello-approve", True, "alice", "flyte")
    kind, patch = api.calls[-1]
    assert kind == "status" and patch["metadata"] == {"resourceVersion": "7"}
    assert patch["status"]["signalledBy"] == "alice" and patch["status"]["signalledAt"].endswith("Z")
    assert literals.from_literal(literals_pb2.Literal.FromString(base64.b64decode(patch["status"]["signalValue"]))) is True
    await signals.signal(api, "hello-approve", True, "bob", "flyte")  # the same value again: nothing written
    assert len([c for c in api.calls if c[0] == "status"]) == 1
    with pytest.raises(errors.SignalRefused, match="already signalled"):
        await signals.signal(api, "hello-approve", False, "bob", "flyte")
    with pytest.raises(errors.NotFound):
        await signals.signal(api, "nope", True, "bob", "flyte")
