"""R-A6 / ASVS V7: one access event per API request that reads or writes
personal data, published to RabbitMQ (exchange ``gateway.events``, type
``access_recorded``) with publisher confirms (pika). identity keeps the log.

Requests never wait for the broker: events go through a bounded in-process
queue to one publisher thread per worker process. The thread takes what has
gathered (at most ``max_batch`` events, waiting at most ``linger`` seconds
after the first) and publishes it as one ``access_recorded_batch`` message
whose payload carries the unchanged ``access_recorded`` envelopes
(docs/events.md), with a publisher confirm; after a broker outage it retries
the same batch (same batch id, same event ids: identity keeps each once).
One message and one confirm per batch instead of per request is what lets
identity insert the log in bulk and keeps the broker and the publisher
thread cheap under load. When the queue is full (broker down for long),
events are dropped and counted (``gateway_access_events_dropped_total``)
rather than slowing the school down.

A worker that goes (gunicorn's graceful stop, or its master killed) still
answers the requests in flight after gunicorn's ``worker_exit`` hook ran:
:meth:`AccessLog.flush_at_exit`, registered with ``atexit`` in each worker
(gateway.gunicorn_conf), publishes their events once every request thread
has ended (atexit runs after the threads are joined, while the publisher
thread still runs).
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
BATCH_TYPE = "access_recorded_batch"
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


def access_batch(events: list[dict]) -> dict:
    """The envelope of one message carrying several access events."""
    return envelope(type=BATCH_TYPE, producer=PRODUCER, school_id=None, actor_id=None,
                    payload={"events": list(events)})


class AccessLog:
    """The bounded queue and its publisher thread (started on first use,
    i.e. in the gunicorn worker after the fork)."""

    def __init__(self, amqp_uri: str, *, max_queue: int = 10000, retry_delay: float = 1.0,
                 max_batch: int = 200, linger: float = 0.5):
        self.amqp_uri = amqp_uri
        self.queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.retry_delay = retry_delay
        self.max_batch = max_batch
        self.linger = linger
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

    def _take_batch(self) -> list[dict]:
        """The next events to publish: the first waited for (at most 0.5 s,
        so the idle connection still gets its heartbeats), then whatever
        arrives within ``linger`` seconds, up to ``max_batch``."""
        try:
            batch = [self.queue.get(timeout=0.5)]
        except queue.Empty:
            return []
        # Sleep through the linger instead of waiting on the queue: a waiting
        # consumer is woken by every request's put (a thread switch each),
        # a sleeping one takes the lot at once.
        deadline = time.monotonic() + self.linger
        while len(batch) < self.max_batch:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    break
                time.sleep(min(remaining, 0.05))
        return batch

    def _run(self) -> None:
        connection = channel = None
        pending = None  # the batch's envelope, kept until the broker confirmed it
        while not self._stop.is_set():
            if pending is None:
                batch = self._take_batch()
                if not batch:
                    if connection is not None:
                        try:
                            connection.process_data_events(0)  # heartbeats while idle
                        except Exception:  # noqa: BLE001 - any broker trouble: reconnect later
                            connection = channel = None
                    continue
                pending = access_batch(batch)
            try:
                if channel is None:
                    connection, channel = self._connect()
                channel.basic_publish(
                    EXCHANGE, BATCH_TYPE, json.dumps(pending).encode(),  # ASCII: every event encodes
                    pika.BasicProperties(content_type="application/json", content_encoding="utf-8",
                                         delivery_mode=2, message_id=pending["id"]))
                count = len(pending["payload"]["events"])
                PUBLISHED.inc(count)
                pending = None
                for _ in range(count):  # confirmed: flush() counts them done
                    self.queue.task_done()
            except Exception as exc:  # noqa: BLE001 - keep the batch, reconnect, retry
                log.warning("access events not confirmed (%s); retrying", type(exc).__name__)
                try:
                    if connection is not None and connection.is_open:
                        connection.close()
                except Exception:  # noqa: BLE001
                    pass
                connection = channel = None
                self._stop.wait(self.retry_delay)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event is confirmed (tests); True if so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.queue.unfinished_tasks == 0:
                return True
            time.sleep(0.05)
        return False

    def flush_at_exit(self) -> None:
        """Publish what is still queued when the process ends: the events of
        requests answered after ``worker_exit``'s flush (an ``atexit`` hook)."""
        if not self._stop.is_set() and not self.flush(timeout=5.0):
            left = self.queue.unfinished_tasks
            DROPPED.inc(left)  # gone with the process: counted, as a full queue's are
            log.warning("%d access events not confirmed at exit", left)

    def close(self) -> None:
        self._stop.set()
