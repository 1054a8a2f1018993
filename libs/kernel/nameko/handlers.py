"""Event handlers: :func:`on_event` subscribes, :func:`handles` makes a
handler idempotent and poison-safe (one transaction per envelope, the event
recorded as processed, malformed or failing events dead-lettered, transient
database errors requeued)."""
from __future__ import annotations

import functools
import logging

import eventlet
from nameko.events import SERVICE_POOL, EventHandler
from sqlalchemy.exc import DBAPIError

from kernel import correlation
from kernel.db import transient_error
from kernel.events import claim, unpack, validate_envelope
from kernel.nameko.consumer import Undecodable, _QueueConsumer
from kernel.nameko.metrics import EVENTS_HANDLED

log = logging.getLogger(__name__)


class _EventHandler(EventHandler):
    """nameko's event handler on the kernel's :class:`_QueueConsumer` (an
    undecodable event is dead-lettered, not dropped)."""

    queue_consumer = _QueueConsumer()


def on_event(producer: str, event_type: str):
    """Subscribe a handler to ``producer``'s ``event_type`` the one way every
    service does: a durable queue per service and handler (SERVICE_POOL),
    events kept until a handler is up, transient failures requeued. Stack it
    over :func:`handles`. A body that cannot be decoded is dead-lettered
    under the handler's consumer name (:class:`_QueueConsumer`)."""
    return _EventHandler.decorator(producer, event_type, handler_type=SERVICE_POOL,
                                   reliable_delivery=True, requeue_on_error=True)


# A lost connection or an unavailable database: retry, don't dead-letter.
_transient = transient_error


def handles(consumer: str, processed_table):
    """Make a nameko event handler idempotent and poison-safe.

    The decorated method gets ``(self, session, envelope)`` inside one
    transaction that also records the event id as processed by ``consumer``.
    A malformed event or one whose handling raises a non-transient error is
    dead-lettered (the service needs ``self.db`` and ``self.dead_letters``);
    a transient database error is raised again so the message is requeued.

    ``processed_table=None`` skips that record (four round trips and a row
    per event) for a handler whose effect is idempotent by itself, e.g. an
    insert keyed by the event's own id that ignores a conflict; everything
    else (dead letters, requeue, metrics) is the same.
    """
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, body):
            # A packed message carries several envelopes: each is handled in
            # its own transaction; a transient error requeues the message,
            # and the envelopes handled before it are then duplicates.
            for item in unpack(body):
                _handle_one(self, fn, consumer, processed_table, item)
        wrapper.ejournal_consumer = consumer  # the name an undecodable delivery is dead-lettered under
        return wrapper
    return decorate


def valid_or_dead_lettered(self, consumer: str, body) -> dict | None:
    """The envelope ``body`` is, or None once it is dead-lettered as
    malformed (``self`` is the service: its ``dead_letters``), or as
    :class:`Undecodable`."""
    if isinstance(body, Undecodable):
        EVENTS_HANDLED.labels(consumer, "dead").inc()
        self.dead_letters.put(consumer, body.body, f"undecodable: {body.reason}")
        return None
    try:
        return validate_envelope(body)
    except ValueError as exc:
        EVENTS_HANDLED.labels(consumer, "dead").inc()
        self.dead_letters.put(consumer, body, f"malformed: {exc}")
        return None


def run_queued_jobs(self, consumer: str, body, run) -> None:
    """A service's own ``job_queued`` events: ``run(job_id)`` for each valid
    one, which answers True (ran), False (already ended: a duplicate) or None
    (no such job: dead-lettered for a look, not retried)."""
    for item in unpack(body):
        envelope = valid_or_dead_lettered(self, consumer, item)
        if envelope is None:
            continue
        ran = run(str((envelope.get("payload") or {}).get("job_id") or ""))
        if ran is None:
            self.dead_letters.put(consumer, item, "unknown job")
        EVENTS_HANDLED.labels(consumer, {True: "ok", False: "duplicate", None: "dead"}[ran]).inc()


def _handle_one(self, fn, consumer, processed_table, body) -> None:
    env = valid_or_dead_lettered(self, consumer, body)
    if env is None:
        return
    correlation.set(env.get("correlation_id"))
    try:
        with self.db.transaction() as session:
            if processed_table is not None and not claim(session, processed_table, consumer, env["id"]):
                EVENTS_HANDLED.labels(consumer, "duplicate").inc()
                return
            fn(self, session, env)
    except DBAPIError as exc:
        if not _transient(exc):
            log.exception("event %s dead-lettered by %s", env.get("id"), consumer)
            EVENTS_HANDLED.labels(consumer, "dead").inc()
            self.dead_letters.put(consumer, body, f"{type(exc).__name__}: {exc}")
            return
        EVENTS_HANDLED.labels(consumer, "retry").inc()
        eventlet.sleep(1.0)
        raise
    except Exception as exc:  # poison: keep it, count it, move on
        log.exception("event %s dead-lettered by %s", env.get("id"), consumer)
        EVENTS_HANDLED.labels(consumer, "dead").inc()
        self.dead_letters.put(consumer, body, f"{type(exc).__name__}: {exc}")
        return
    EVENTS_HANDLED.labels(consumer, "ok").inc()
