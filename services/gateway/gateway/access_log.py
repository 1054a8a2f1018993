"""R-A6 / ASVS V7: one access event per API request that reads or writes
personal data, published to RabbitMQ (exchange ``gateway.events``, type
``access_recorded``) with publisher confirms (pika). identity keeps the log.

Requests never wait for the broker: events go through a bounded in-process
queue to one publisher thread per worker process, which publishes each with
a confirm and retries it after a broker outage. When the queue is full
(broker down for long), events are dropped and counted
(``gateway_access_events_dropped_total``) rather than slowing the school down.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time

import pika
from prometheus_client import Counter

from kernel.events import envelope

log = logging.getLogger(__name__)
# pika logs every failed connection attempt with a traceback at ERROR; our
# publisher and invalidator log one warning per attempt themselves.
logging.getLogger("pika").setLevel(logging.CRITICAL)

EXCHANGE = "gateway.events"
EVENT_TYPE = "access_recorded"
PRODUCER = "gateway"
PUBLISHED = Counter("gateway_access_events_published_total", "Access events confirmed by the broker")
DROPPED = Counter("gateway_access_events_dropped_total", "Access events dropped (queue full)")


def pika_uri(uri: str) -> str:
    """kombu's ``pyamqp://`` spelling as the ``amqp://`` pika reads."""
    for prefix in ("pyamqp://", "librabbitmq://"):
        if uri.startswith(prefix):
            return "amqp://" + uri[len(prefix):]
    return uri


def access_event(*, user_id: str, school_id: str | None, roles, method: str, route: str, resource_id: str | None,
                 status: int, correlation_id: str | None, address: str | None) -> dict:
    """The envelope of one access (who, what, when, result, correlation id)."""
    return envelope(type=EVENT_TYPE, producer=PRODUCER, school_id=school_id or None, actor_id=user_id,
                    correlation_id=correlation_id, payload={
                        "user_id": user_id, "roles": list(roles), "method": method, "route": route,
                        "resource_id": resource_id, "status": int(status), "address": address})


class AccessLog:
    """The bounded queue and its publisher thread (started on first use,
    i.e. in the gunicorn worker after the fork)."""

    def __init__(self, amqp_uri: str, *, max_queue: int = 10000, retry_delay: float = 1.0):
        self.amqp_uri = amqp_uri
        self.queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.retry_delay = retry_delay
        self._thread: threading.Thread | None = None
        self._pid = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def record(self, event: dict) -> None:
        self._ensure_thread()
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            DROPPED.inc()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
                self._thread.start()

    def _connect(self):
        params = pika.URLParameters(pika_uri(self.amqp_uri))
        params.heartbeat = 30
        connection = pika.BlockingConnection(params)
        channel = connection.channel()
        channel.confirm_delivery()  # basic_publish now waits for the broker's ack, raises on nack
        channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True, auto_delete=False)
        return connection, channel

    def _run(self) -> None:
        connection = channel = None
        pending = None
        while not self._stop.is_set():
            if pending is None:
                try:
                    pending = self.queue.get(timeout=0.5)
                except queue.Empty:
                    if connection is not None:
                        try:
                            connection.process_data_events(0)  # heartbeats while idle
                        except Exception:  # noqa: BLE001 - any broker trouble: reconnect later
                            connection = channel = None
                    continue
            try:
                if channel is None:
                    connection, channel = self._connect()
                channel.basic_publish(
                    EXCHANGE, EVENT_TYPE, json.dumps(pending, ensure_ascii=False).encode(),
                    pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                         delivery_mode=2))
                PUBLISHED.inc()
                pending = None
            except Exception as exc:  # noqa: BLE001 - keep the event, reconnect, retry
                log.warning("access event not confirmed (%s); retrying", type(exc).__name__)
                try:
                    if connection is not None and connection.is_open:
                        connection.close()
                except Exception:  # noqa: BLE001
                    pass
                connection = channel = None
                self._stop.wait(self.retry_delay)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the queue is empty (tests); True if it emptied."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0 or self.queue.empty():
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
