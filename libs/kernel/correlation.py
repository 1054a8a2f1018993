"""Correlation ids: one id per request, carried by every RPC, event and log
line; and the JSON log lines every process writes (:func:`setup_logging`)."""
from __future__ import annotations

import contextvars
import datetime as _dt
import logging

from kernel import jsoncodec

from kernel.ids import uuid4_hex

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
_actor: contextvars.ContextVar[str | None] = contextvars.ContextVar("actor_id", default=None)
HEADER = "X-Correlation-Id"


def new_id() -> str:
    return uuid4_hex()


def get() -> str | None:
    return _current.get()


def set(value: str | None):
    return _current.set(value)


def get_actor() -> str | None:
    return _actor.get()


def set_actor(value: str | None):
    """The user the current request or event acts for (logged beside the correlation id)."""
    return _actor.set(value)


class CorrelationFilter(logging.Filter):
    """Adds ``correlation_id`` and ``actor_id`` to every log record (unless
    the call gave them with ``extra``)."""

    def filter(self, record):
        given = record.__dict__  # what ``extra`` set (no AttributeError raised and caught per absent name)
        if not given.get("correlation_id"):
            record.correlation_id = _current.get() or "-"
        if not given.get("actor_id"):
            record.actor_id = _actor.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, service, correlation id,
    actor id where known, the logger and the message, and what the caller
    gave of :data:`FIELDS` (``extra={"rpc": "journal.post_marks",
    "duration_ms": 12.5}``). Only ids and names: no body, no personal data;
    the message and the exception have been through kernel.redact."""

    FIELDS = ("event", "rpc", "consumer", "type", "event_id", "method", "route", "status", "code",
              "duration_ms", "count", "error")

    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        given = record.__dict__  # the record's own and ``extra``'s attributes (a dict lookup per name)
        cid = given.get("correlation_id", "-")
        line = {
            "time": _utc_time(record.created),
            "level": record.levelname,
            "service": self.service,
            "correlation_id": None if cid == "-" else cid,
            "actor_id": given.get("actor_id"),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in self.FIELDS:
            value = given.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        try:
            return jsoncodec.dumps(line, default=str)  # one line per request: orjson, the fast path
        except TypeError:  # an integer beyond 64 bits in a field
            import json
            return json.dumps(line, ensure_ascii=False, default=str)


_second = [None, ""]  # the last whole second formatted and its text (logging takes a lock per record)


def _utc_time(created: float) -> str:
    """``created`` as ISO 8601 UTC with milliseconds, e.g. 2026-12-07T09:15:02.114+00:00."""
    whole = int(created)
    if _second[0] != whole:
        _second[:] = [whole, _dt.datetime.fromtimestamp(whole, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")]
    return f"{_second[1]}.{int((created - whole) * 1000):03d}+00:00"


def setup_logging(service: str, level: str = "INFO") -> None:
    """Every process's logging: JSON lines on stderr (:class:`JsonFormatter`),
    with the correlation and actor ids, secrets masked."""
    from kernel.redact import SecretsFilter

    handler = logging.StreamHandler()
    handler.addFilter(CorrelationFilter())
    handler.addFilter(SecretsFilter())  # secrets never logged (ASVS 7.1.1)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
