"""Logging: text or JSON lines, each carrying the namespace/name of the TaskAction being reconciled (if any)."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime

from . import redact

current_object: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("current_object", default=None)


class ObjectContext(logging.Filter):
    """Stamps every record with the TaskAction the current task works on."""

    def filter(self, record: logging.LogRecord) -> bool:
        namespace, name = current_object.get() or ("", "")
        record.ta_namespace = namespace
        record.ta_name = name
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "ta_name", ""):
            line["namespace"] = record.ta_namespace
            line["name"] = record.ta_name
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        name = getattr(record, "ta_name", "")
        return f"{text} [{record.ta_namespace}/{name}]" if name else text


class RedactingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Every line written with the secret values of redact.py replaced: a library's debug line, an exception's text."""

    def format(self, record: logging.LogRecord) -> str:
        return redact.text(super().format(record))


# Their debug lines dump requests, signed Authorization headers included (replayable for minutes): never shown.
REQUEST_DUMPING_LOGGERS = ("botocore", "aiobotocore", "s3fs", "urllib3", "kubernetes_asyncio")


def configure(log_format: str, level: str = "INFO") -> None:
    handler = RedactingHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ObjectContext())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in REQUEST_DUMPING_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), logging.INFO))
