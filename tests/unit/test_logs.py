"""The log (logs.py): every line redacted (redact.py), and the libraries that dump requests, signed headers and all,
kept at INFO when the operator logs at DEBUG."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from taskaction_operator import logs, redact

pytestmark = pytest.mark.usefixtures("empty_redaction_registry")


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """logs.configure at DEBUG into a buffer; the root logger's handlers and the touched levels restored after."""
    stream = io.StringIO()
    monkeypatch.setattr(logs.sys, "stderr", stream)
    root = logging.getLogger()
    touched = [logging.getLogger(name) for name in ("kopf.objects", "kopf._cogs.clients.watching", *logs.REQUEST_DUMPING_LOGGERS)]
    saved = (root.handlers[:], root.level, [logger.level for logger in touched])
    logs.configure("text", "DEBUG")
    yield stream
    root.handlers[:], root.level = saved[0], saved[1]
    for logger, level in zip(touched, saved[2]):
        logger.setLevel(level)


def test_every_line_is_redacted(configured: io.StringIO) -> None:
    redact.register(["sk-very-secret-1"])
    logging.getLogger("taskaction_operator.test").warning("read failed with %s", "key sk-very-secret-1")
    assert "read failed with key [redacted]" in configured.getvalue() and "sk-very-secret-1" not in configured.getvalue()


def test_request_dumps_stay_out_at_debug(configured: io.StringIO) -> None:
    logging.getLogger("taskaction_operator.test").debug("the operator's own debug line")
    logging.getLogger("botocore.endpoint").debug("Sending http request: Authorization=AWS4-HMAC-SHA256 Signature=abc")
    assert "the operator's own debug line" in configured.getvalue() and "Signature" not in configured.getvalue()
