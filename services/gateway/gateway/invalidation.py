"""Drop the gateway's cached access decisions the moment a relationship
changes: one pika consumer thread per worker process, on its own exclusive, auto-deleted queue bound to the relationship events
of identity and the journal. The cache's short lifetime stays the bound when
the broker is unreachable."""
from __future__ import annotations

import json
import logging
import os
import threading

import pika
from prometheus_client import Counter

from gateway.access_log import pika_uri

log = logging.getLogger(__name__)

CONSUMER = "gateway.invalidation"
DEAD_LETTER_EXCHANGE = "ejournal.dead-letters"  # kernel.nameko.DEAD_LETTER_EXCHANGE, and its queue's name
DEAD_LETTERS = Counter("gateway_dead_letters_total", "Relationship events the gateway could not read",
                       ["type"])

# producer -> event types that change who may see what
RELATIONSHIP_EVENTS = {
    "identity": ("parent_linked", "consent_recorded", "roles_changed", "sessions_revoked"),
    "journal": ("class_created", "student_enrolled", "teacher_assigned", "student_transferred", "student_left"),
}


def revocation(event_type: str, body: bytes):
    """The arguments of :meth:`gateway.auth.Revocations.revoke` when the
    event ends sessions, None otherwise; ValueError (or TypeError) when the
    body is no well-formed event. ``sessions_revoked`` (identity,
    ``(user_id, before, session_ids, until)``, the named
    sessions end until their last token expires. A consent refusal (R-A4)
    or a role change (R-A5): ``(user_id, before)`` for tokens without a
    session id, ``before`` the second after the event's: every such token
    issued up to and including that second is refused."""
    from kernel import payloads  # kernel.payloads.InvalidPayload is a ValueError

    env = json.loads(body)
    data = payloads.payload(env)
    at = int(payloads.occurred_at(env).timestamp()) + 1
    if event_type == "sessions_revoked":
        return (payloads.text(data, "user_id"), payloads.integer(data, "before"),
                payloads.strings(data, "session_ids", required=False), payloads.integer(data, "until"))
    if event_type == "consent_recorded" and not payloads.flag(data, "given", required=True):
        return payloads.text(data, "parent_id"), at
    if event_type == "roles_changed":
        return payloads.text(data, "user_id"), at
    return None


def session_revocation(event_type: str, body: bytes):
    """:func:`revocation`, None for a malformed body."""
    try:
        return revocation(event_type, body)
    except (ValueError, TypeError):
        return None


def malformed(event_type: str, body: bytes) -> str | None:
    """Why ``body`` is no readable event (None when it is one): an envelope
    (kernel.events), and for the events that end sessions the fields the
    gateway reads."""
    from kernel.events import validate_envelope

    try:
        validate_envelope(json.loads(body))
        revocation(event_type, body)
    except (ValueError, TypeError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return f"{type(exc).__name__}: {exc}"
    return None


def dead_letter(channel, event_type: str, body: bytes, error: str) -> None:
    """Count an event the gateway could not read and keep a copy on the
    platform's dead-letter queue (as every service does; the gateway keeps
    no table). The caches were emptied all the same: the safe side."""
    import base64

    DEAD_LETTERS.labels(event_type).inc()
    log.error("%s: %s event dead-lettered: %s", CONSUMER, event_type, error)
    try:
        text, note = body.decode("utf-8"), ""
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:  # kept exactly, as kernel.nameko.DeadLetters does
        text, note = base64.b64encode(body).decode("ascii"), " [body in base64]"
    channel.exchange_declare(DEAD_LETTER_EXCHANGE, exchange_type="fanout", durable=True)
    channel.queue_declare(DEAD_LETTER_EXCHANGE, durable=True)
    channel.queue_bind(DEAD_LETTER_EXCHANGE, DEAD_LETTER_EXCHANGE, routing_key=CONSUMER)
    channel.basic_publish(DEAD_LETTER_EXCHANGE, CONSUMER,
                          json.dumps({"consumer": CONSUMER, "error": (error + note)[:2000], "body": text}).encode(),
                          pika.BasicProperties(content_type="application/json", delivery_mode=2))


class Invalidator:
    """Calls ``on_change(event_type, body)`` for every relationship event
    (started lazily in the worker, restarted after a fork or a lost
    connection)."""

    def __init__(self, amqp_uri: str, on_change, *, retry_delay: float = 2.0):
        self.amqp_uri = amqp_uri
        self.on_change = on_change
        self.retry_delay = retry_delay
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        self._pid = None
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self.ready.clear()
                self._thread = threading.Thread(target=self._run, name="decision-invalidator", daemon=True)
                self._thread.start()

    def _consume_once(self) -> None:
        params = pika.URLParameters(pika_uri(self.amqp_uri))
        params.heartbeat = 30
        connection = pika.BlockingConnection(params)
        try:
            channel = connection.channel()
            queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
            for producer, types in RELATIONSHIP_EVENTS.items():
                exchange = f"{producer}.events"
                channel.exchange_declare(exchange, exchange_type="topic", durable=True, auto_delete=False)
                for event_type in types:
                    channel.queue_bind(queue, exchange, routing_key=event_type)

            def handle(ch, method, properties, body):
                try:
                    self.on_change(method.routing_key, body)
                    error = malformed(method.routing_key, body)
                    if error:
                        dead_letter(ch, method.routing_key, body, error)
                finally:
                    ch.basic_ack(method.delivery_tag)

            channel.basic_consume(queue, handle)
            # the relationship may have changed while we were not listening
            self.on_change(None, b"")
            self.ready.set()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=0.5)
        finally:
            self.ready.clear()
            try:
                connection.close()
            except Exception:  # noqa: BLE001
                pass

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume_once()
            except Exception as exc:  # noqa: BLE001 - broker away: the cache lifetime still bounds staleness
                log.warning("decision invalidation paused (%s)", type(exc).__name__)
                self._stop.wait(self.retry_delay)

    def close(self) -> None:
        self._stop.set()
