"""Dead letters: poison events and undecodable deliveries kept in the
service's ``dead_letters`` table and on the broker's dead-letter queue."""
from __future__ import annotations

import base64
import json
import logging

from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider
from sqlalchemy import insert

from kernel.db import session_factory, shared_engine, transaction
from kernel.events import utcnow
from kernel.nameko.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE = "ejournal.dead-letters"
DEAD_LETTER_QUEUE = "ejournal.dead-letters"


class DeadLetters(DependencyProvider):
    """Keeps poison events in the service's ``dead_letters`` table and on the
    broker's dead-letter queue, and counts them."""

    def __init__(self, tables: dict):
        self.table = tables["dead_letters"]

    def setup(self):
        self.engine = shared_engine(self.container.config["DATABASE_URL"])
        self.factory = session_factory(self.engine)
        self.exchange = Exchange(DEAD_LETTER_EXCHANGE, type="fanout", durable=True)
        self.queue = Queue(DEAD_LETTER_QUEUE, exchange=self.exchange, durable=True)
        self.publisher = Publisher(self.container.config["AMQP_URI"], use_confirms=True,
                                   declare=[self.exchange, self.queue])

    def stop(self):
        self.engine.dispose()

    def kill(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        return self

    def put(self, consumer: str, body, error: str):
        """Keep ``body`` (a decoded message, or the raw bytes of one that
        could not be decoded) with the ``error`` it met."""
        if isinstance(body, (bytes, bytearray, memoryview)):
            text, in_base64 = _raw_text(bytes(body))
            if in_base64:
                error += " [body in base64]"
        else:
            text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, default=str)
        text, error = _storable(text), _storable(error[:2000])
        event_id = body.get("id") if isinstance(body, dict) else None
        with transaction(self.factory) as session:
            session.execute(insert(self.table).values(
                consumer=consumer, event_id=_storable(str(event_id))[:64] if event_id else None,
                body=text, error=error, created_at=utcnow()))
        try:
            self.publisher.publish({"consumer": consumer, "error": error[:2000], "body": text},
                                   exchange=self.exchange, routing_key=consumer)
        except Exception:  # the row above keeps it; the queue copy is a convenience
            log.exception("could not publish dead letter")
        DEAD_LETTERS.labels(consumer).inc()


def _raw_text(body: bytes) -> tuple[str, bool]:
    """The text a raw body is kept as: itself if it is UTF-8 without NUL,
    else its base64 (exact, where any escaping would be ambiguous); and
    whether it is base64."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text:
        return text, False
    return base64.b64encode(body).decode("ascii"), True


def _storable(text: str) -> str:
    """``text`` as PostgreSQL stores it: no NUL (refused in text), no lone
    surrogate (not UTF-8); both escaped instead of failing the dead letter."""
    text = text.replace("\x00", "\\u0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
