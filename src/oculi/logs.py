"""Logging setup and the request id every log line carries.

The HTTP middleware (and the gRPC server) set ``request_id`` for the duration
of a request; a logging filter copies it onto every record, so any log line a
request causes — in the pipeline, the intake, an engine — can be found by the
id the client got back in ``x-request-id``. Structured (JSON) output is one
object per line for log shippers; the plain format is for people.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

#: The id of the request being handled in this task ("-" outside any request).
request_id: ContextVar[str] = ContextVar("oculi_request_id", default="-")

_PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

# Attributes every LogRecord has; anything else was passed with ``extra=`` and
# belongs in the structured output.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


def new_request_id() -> str:
    """A fresh request id (what a response's ``x-request-id`` carries)."""
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, request id, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(level: str = "info", *, json_lines: bool = False) -> None:
    """Configure the root logger once for the process (the server calls this at start).

    Uvicorn's own loggers are routed through the same handler so every line
    has one format; its access log is replaced by oculi's (``oculi.access``),
    which carries the request id and latency.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(_PLAIN_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
