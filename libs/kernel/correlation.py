"""Correlation ids: one id per request, carried by every RPC, event and log line."""
from __future__ import annotations

import contextvars
import logging

from kernel.ids import uuid4_hex

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)
HEADER = "X-Correlation-Id"


def new_id() -> str:
    return uuid4_hex()


def get() -> str | None:
    return _current.get()


def set(value: str | None):
    return _current.set(value)


class CorrelationFilter(logging.Filter):
    """Adds ``correlation_id`` to every log record."""

    def filter(self, record):
        record.correlation_id = _current.get() or "-"
        return True


def setup_logging(service: str, level: str = "INFO") -> None:
    from kernel.redact import SecretsFilter

    handler = logging.StreamHandler()
    handler.addFilter(CorrelationFilter())
    handler.addFilter(SecretsFilter())  # secrets never logged (ASVS 7.1.1)
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s {service} %(levelname)s [%(correlation_id)s] %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
