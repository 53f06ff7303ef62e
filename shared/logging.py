"""One logger setup for every function: JSON lines that Cloud Logging understands.

Cloud Logging reads `severity`, `message`, `logging.googleapis.com/trace` and
`logging.googleapis.com/labels` from a JSON line on stdout. Correlation and causation ids are
bound per message through contextvars, so every line of one flow can be found together.
Values of personal fields are redacted here as a last line of defence: the code never logs
them on purpose, and a test checks the logs of a whole flow for the personal data it sent.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

# Keys whose values are personal data wherever they appear.
REDACTED_KEYS = frozenset(
    {
        "email",
        "client_email",
        "first_names",
        "last_names",
        "rut",
        "national_id",
        "card_token",
        "patient_name",
        "patient_id",
        "patient_birth_date",
        "clinical_history",
        "client",
        "payload",
        "data",
    }
)
_LEVELS = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
    "exception": "ERROR",
}
_configured = False


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in REDACTED_KEYS.intersection(event):
        event[key] = "[redacted]"
    return event


def _cloud_logging_shape(
    _: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event["severity"] = _LEVELS.get(method, "INFO")
    event["message"] = event.pop("event", "")
    trace = event.pop("trace", None)
    if trace:
        event["logging.googleapis.com/trace"] = trace
    event.pop("logger_name", None)
    labels = {k: str(event[k]) for k in ("function", "correlation_id") if event.get(k)}
    if labels:
        event["logging.googleapis.com/labels"] = labels
    return event


class _StdoutLogger(structlog.PrintLogger):
    """Prints to whatever sys.stdout is when a line is written, not when the logger was made:
    a logger built under a captured or replaced stdout keeps working after it is restored."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stdout, flush=True)

    log = debug = info = warn = warning = err = error = critical = exception = fatal = msg


class _StdoutLoggerFactory:
    def __call__(self, *args: Any) -> _StdoutLogger:
        return _StdoutLogger()


def configure_logging(level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    logging.basicConfig(stream=sys.stdout, level=level, format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
            structlog.processors.format_exc_info,
            _redact,
            _cloud_logging_shape,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_StdoutLoggerFactory(),
        cache_logger_on_first_use=True,
    )
    _configured = True


def get_logger(name: str) -> Any:
    return structlog.get_logger(logger_name=name)


def bind_message_context(**values: str) -> None:
    """Bind correlation ids (and the like) to every log line of the current message."""
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v})


def trace_from_header(header: str | None, project_id: str) -> str | None:
    """`X-Cloud-Trace-Context: TRACE_ID/SPAN;o=1` → the trace name Cloud Logging links."""
    if not header:
        return None
    trace_id = header.split("/", 1)[0]
    return f"projects/{project_id}/traces/{trace_id}" if trace_id else None
