"""Logging: text or JSON lines, each carrying the namespace/name of the TaskAction being reconciled (if any), and
a count of kopf's watch-stream restarts, which kopf only reports as debug log lines."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from . import metrics, redact

current_object: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("current_object", default=None)

_WATCH_RESTARTS = {"Restarting the watch-stream": "expired", "is inactive, reconnecting": "inactive"}
# Told when a watch expired (410): kopf lists again, and objects deleted meanwhile get no DELETED event.
relist_listeners: list[Callable[[], None]] = []


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


class WatchRestarts(logging.Filter):
    """Counts kopf's watch-stream restarts (debug records) and keeps debug records out of the output."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for marker, reason in _WATCH_RESTARTS.items():
            if marker in message:
                metrics.WATCH_RESTARTS.labels(reason).inc()
                if reason == "expired":
                    for listener in relist_listeners:
                        listener()
        return record.levelno >= logging.INFO


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
    # kopf logs every handled watch event at INFO: at thousands of actions that is noise, not information.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    watching = logging.getLogger("kopf._cogs.clients.watching")
    watching.setLevel(logging.DEBUG)
    watching.addFilter(WatchRestarts())
