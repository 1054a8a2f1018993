"""The queue consumer every kernel entrypoint shares (RPC and events): a
delivery it cannot decode is dead-lettered as it came (:class:`Undecodable`),
not acknowledged and lost as kombu would; :func:`consumer_name` says under
which name a delivery is counted and dead-lettered."""
from __future__ import annotations

import functools
import logging

import eventlet
from nameko.messaging import QueueConsumer
from nameko.rpc import RpcConsumer

from kernel.nameko.dead_letters import DeadLetters
from kernel.nameko.metrics import EVENTS_HANDLED

log = logging.getLogger(__name__)


class Undecodable:
    """A delivery whose body could not be decoded (not UTF-8, not JSON, a
    content type the service does not accept): what a consumer hands on in
    place of the body, so that it is dead-lettered as it came."""

    __slots__ = ("body", "reason")

    def __init__(self, body: bytes, reason: str):
        self.body = body
        self.reason = reason


def undecodable(message, exc: Exception) -> Undecodable:
    """The :class:`Undecodable` of a kombu ``message`` that failed with ``exc``."""
    return Undecodable(message.body, f"{type(exc).__name__}: {exc} (content type {message.content_type!r}, "
                                     f"encoding {message.content_encoding!r})")


class _QueueConsumer(QueueConsumer):
    """nameko's QueueConsumer (one per container, shared by every RPC and
    event entrypoint of the kernel), except for a body it cannot decode:
    kombu's consumer logged "Can't decode message body" and acknowledged it,
    so the message was lost. It is dead-lettered instead (the service's
    :class:`DeadLetters`), then acknowledged."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = functools.partial(self._on_undecodable, provider)
        return consumers

    def _on_undecodable(self, provider, message, exc):
        # kombu calls this in the consume loop: the database write happens
        # in a thread of its own, and the loop goes on with other deliveries.
        self.container.spawn_managed_thread(functools.partial(self._dead_letter, provider, message, exc),
                                            identifier=f"{self.container.service_name}.undecodable")

    def _dead_letter(self, provider, message, exc):
        self.keep_poison(provider, message, f"undecodable: {undecodable(message, exc).reason}")

    def keep_poison(self, provider, message, error: str):
        """Dead-letter ``message`` (its body as it came) under ``provider``'s
        consumer name, then acknowledge it; requeue it (after a pause) if
        the dead letter cannot be written."""
        consumer = consumer_name(self.container, provider)
        dead_letters = next((d for d in self.container.dependencies if isinstance(d, DeadLetters)), None)
        log.error("%s: message dead-lettered: %s", consumer, error)
        if dead_letters is None:  # nowhere to keep it (every kernel service has DeadLetters)
            self.ack_message(message)
            return
        try:
            if not isinstance(provider, RpcConsumer):
                EVENTS_HANDLED.labels(consumer, "dead").inc()
            dead_letters.put(consumer, message.body, error)
        except Exception:  # the database is away: keep the message, try again later
            log.exception("%s: could not dead-letter a message; requeued", consumer)
            eventlet.sleep(1.0)
            self.requeue_message(message)
            return
        self.ack_message(message)


def consumer_name(container, provider) -> str:
    """The consumer name a delivery to ``provider`` is counted and
    dead-lettered under: ``<service>.rpc`` for the RPC queue, the name given
    to :func:`handles` for an event handler (else ``<service>.<method>``)."""
    service = container.service_name
    if isinstance(provider, RpcConsumer):
        return f"{service}.rpc"
    method = getattr(container.service_cls, provider.method_name, None)
    return getattr(method, "ejournal_consumer", None) or f"{service}.{provider.method_name}"
