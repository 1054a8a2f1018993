"""A batching event consumer for high-volume events (journal's ``mark_posted``).

:func:`on_event_batch` consumes the same durable queue that
:func:`kernel.nameko.handlers.on_event` would (same name, exchange and binding, so
``kernel.topology`` declares it and a service switches between the two
without losing queued events), but hands a worker up to ``max_batch``
events at once: whatever arrived within ``max_wait`` seconds of the first
one, or sooner when the batch is full (a packed message, a JSON array of
envelopes, counts as the events it carries, and is never split).
:func:`handles_batch` then gives the
handler ``(self, session, envelopes)`` inside ONE transaction that also marks
every event processed (one INSERT ... ON CONFLICT DO NOTHING RETURNING), so
the per-event costs of :func:`kernel.nameko.handlers.handles` (a transaction, a
claim query, a savepoint) are paid once per batch.

The guarantees are those of ``on_event`` + ``handles``:

* an event is acknowledged only after the transaction that handled it (or
  the dead-letter row that keeps it) committed; a crash before that
  redelivers it, and ``processed_events`` makes the second delivery a no-op;
* an event delivered twice (even inside one batch, or in two batches handled
  at once) has one effect: claims are inserted in id order, so two
  transactions wait for each other instead of deadlocking, and the loser's
  ON CONFLICT DO NOTHING skips the event;
* a malformed envelope is dead-lettered alone; when handling the batch fails
  with a non-transient error, the batch is rolled back and handled again one
  event per transaction, so only the poison event is dead-lettered and the
  consumer goes on;
* a transient database error (connection lost, database down) requeues the
  batch after a pause.

The consumer has its own AMQP connection and channel (its own prefetch,
independent of the container's ``max_workers``) and runs at most
``concurrency`` batches at once (at most ``max_workers - 1``). Like nameko's own consumer, workers
acknowledge their deliveries themselves when they finish.
"""
from __future__ import annotations

import functools
import logging
import socket
import time
from functools import partial

import eventlet
from eventlet.event import Event
from kombu import Connection
from kombu import Consumer as KombuConsumer
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer as NamekoConsumer
from prometheus_client import Histogram
from sqlalchemy.exc import DBAPIError

from kernel import correlation, jsoncodec
from kernel.db import dialect_insert
from kernel.events import unpack, utcnow
from kernel.nameko.consumer import _QueueConsumer, undecodable
from kernel.nameko.handlers import _transient, valid_or_dead_lettered
from kernel.nameko.metrics import EVENTS_HANDLED

log = logging.getLogger(__name__)

BATCH_SIZE = Histogram("ejournal_event_batch_size", "Events handled per batch", ["consumer"],
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500))

ACK, REQUEUE = "ack", "requeue"
_IDLE_TIMEOUT = 0.25       # how often an idle loop looks at the stop flag and heartbeats
_RECONNECT_PAUSE = 1.0


class _NoSharedQueueConsumer(NamekoConsumer):
    # EventHandler.setup builds the queue and then registers with nameko's
    # shared QueueConsumer through super(); this link in the MRO keeps the
    # queue and skips the registration: the batch consumer has its own.
    def setup(self):
        pass

    def stop(self):
        pass


class BatchEventHandler(EventHandler, _NoSharedQueueConsumer):
    """A nameko entrypoint: ``fn(self, bodies)`` with a list of message
    bodies; returns one outcome per body, ``"ack"`` or ``"requeue"``
    (:func:`handles_batch` builds such a function)."""

    # never used (see _NoSharedQueueConsumer); the container's one, so that
    # no second, idle queue consumer is bound
    queue_consumer = _QueueConsumer()

    def __init__(self, source_service, event_type, *, max_batch: int = 200, max_wait: float = 0.01,
                 concurrency: int = 2, prefetch: int | None = None, **kwargs):
        if max_batch < 1 or concurrency < 1 or max_wait < 0:
            raise ValueError("max_batch and concurrency must be positive, max_wait not negative")
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.concurrency = concurrency
        self.prefetch = prefetch or max_batch * (concurrency + 1)
        super().__init__(source_service, event_type, handler_type=SERVICE_POOL, reliable_delivery=True,
                         requeue_on_error=True, **kwargs)

    # -- lifecycle ---------------------------------------------------------------

    def setup(self):
        super().setup()  # the queue, exactly as nameko's EventHandler names and binds it
        # Leave the container's other entrypoints (RPC, other handlers) a worker.
        self.concurrency = max(1, min(self.concurrency, self.container.max_workers - 1))
        self._buffer: list = []    # (body, message, events it carries)
        self._buffered = 0         # events in the buffer
        self._first_at = 0.0
        self._inflight = 0
        self._stopping = False
        self._ready = Event()
        self._idle = Event()
        self._idle.send(True)
        self._gt = None
        self._timer = None

    def start(self):
        self._gt = self.container.spawn_managed_thread(
            self._run, identifier=f"{self.container.service_name}.{self.method_name}.batch-consumer")
        self._ready.wait()

    def stop(self):
        self._stopping = True
        if self._gt is not None:
            self._gt.wait()

    def kill(self):
        self._stopping = True
        if self._timer is not None:
            self._timer.cancel()
        if self._gt is not None and not self._gt.dead:
            self._gt.kill()

    # -- the consumer loop -----------------------------------------------------------

    def _connection(self) -> Connection:
        config = self.container.config
        return Connection(config["AMQP_URI"], heartbeat=config.get("HEARTBEAT", 60),
                          transport_options=config.get("TRANSPORT_OPTIONS") or {})

    def _run(self):
        while not self._stopping:
            try:
                with self._connection() as conn:
                    self._consume(conn)
            except Exception as exc:  # broker gone: deliveries return to the queue by themselves
                self._buffer, self._buffered = [], 0
                if self._stopping:
                    break
                log.warning("batch consumer %s lost the broker (%s); reconnecting", self.method_name, exc)
                eventlet.sleep(_RECONNECT_PAUSE)
        if not self._ready.ready():
            self._ready.send(None)

    def _consume(self, conn: Connection):
        channel = conn.channel()
        consumer = KombuConsumer(channel, queues=[self.queue], on_message=self._on_delivery,
                                 accept=self.container.accept)
        consumer.qos(prefetch_count=self.prefetch)
        consumer.consume()
        if not self._ready.ready():
            self._ready.send(None)
        beat = time.monotonic()
        while not self._stopping:
            self._maybe_flush()
            try:
                conn.drain_events(timeout=self._timeout())
            except socket.timeout:
                pass
            now = time.monotonic()
            if now - beat >= 1.0:
                conn.heartbeat_check()
                beat = now
        # Stopping: no new deliveries; what is buffered goes back to the
        # queue; batches being handled finish and ack on this connection.
        consumer.cancel()
        for _body, message, _weight in self._buffer:
            self._settle(message, REQUEUE)
        self._buffer, self._buffered = [], 0
        with eventlet.Timeout(30, False):
            self._idle.wait()

    def _timeout(self) -> float:
        # With every slot busy, the worker that frees one flushes (see
        # _handle_result): no need to poll.
        if not self._buffer or self._inflight >= self.concurrency:
            return _IDLE_TIMEOUT
        return max(0.0005, self.max_wait - (time.monotonic() - self._first_at))

    def _on_delivery(self, message):
        """Decode a delivery: JSON (every event) with orjson
        (kernel.jsoncodec); kombu's own decoder calls a Python hook for every
        object in it (60 for a class's packed marks). Another content type
        goes through kombu (and its ``accept`` list). A body that cannot be
        decoded (not JSON, not UTF-8, a content type not accepted) is handed
        on as :class:`kernel.nameko.consumer.Undecodable` and dead-lettered as it
        came (raising here would drop the connection and bring it back
        forever)."""
        try:
            if message.content_type in (None, "", "application/json"):
                body = jsoncodec.loads(message.body)
            else:
                body = message.decode()
        except Exception as exc:
            body = undecodable(message, exc)
        self._on_message(body, message)

    def _on_message(self, body, message):
        if not self._buffer:
            self._first_at = time.monotonic()
        weight = len(body) if isinstance(body, list) and body else 1
        self._buffer.append((body, message, weight))
        self._buffered += weight
        if self._buffered >= self.max_batch:
            self._maybe_flush()

    def _maybe_flush(self):
        if not self._buffer or self._inflight >= self.concurrency or self._stopping:
            return
        wait = self.max_wait - (time.monotonic() - self._first_at)
        if self._buffered < self.max_batch and wait > 0:
            if self._timer is None:  # the loop may be asleep for _IDLE_TIMEOUT: cut the batch in time
                self._timer = eventlet.spawn_after(wait, self._on_timer)
            return
        # What stays buffered keeps its (earlier) first_at: it is flushed as
        # soon as a slot frees.
        taken = events = 0
        while taken < len(self._buffer) and (taken == 0 or events + self._buffer[taken][2] <= self.max_batch):
            events += self._buffer[taken][2]
            taken += 1
        batch, self._buffer = self._buffer[:taken], self._buffer[taken:]
        self._buffered -= events
        messages = [m for _, m, _ in batch]
        self._inflight += 1
        if self._idle.ready():
            self._idle = Event()
        try:
            self.container.spawn_worker(self, ([b for b, _, _ in batch],), {},
                                        handle_result=partial(self._handle_result, messages))
        except ContainerBeingKilled:
            for message in messages:
                self._settle(message, REQUEUE)
            self._batch_finished()

    def _on_timer(self):
        self._timer = None
        self._maybe_flush()

    def _handle_result(self, messages, worker_ctx, result=None, exc_info=None):
        if exc_info is not None or not isinstance(result, list) or len(result) != len(messages):
            outcomes = [REQUEUE] * len(messages)
        else:
            outcomes = result
        for message, outcome in zip(messages, outcomes):
            self._settle(message, outcome)
        self._batch_finished()
        # A slot is free: a full or aged batch need not wait for the loop to
        # wake. In a greenlet of its own: this worker still holds its place in
        # the container's pool, and eventlet runs a spawn from a full pool's
        # own greenthread inline, nesting batch in batch under sustained load.
        eventlet.spawn_n(self._maybe_flush)
        return result, exc_info

    def _batch_finished(self):
        self._inflight -= 1
        if self._inflight == 0 and not self._idle.ready():
            self._idle.send(True)

    @staticmethod
    def _settle(message, outcome):
        # As nameko's QueueConsumer: a delivery of a closed channel is the
        # broker's again already (it will be redelivered), nothing to do.
        if not message.channel or not message.channel.connection:
            return
        try:
            if outcome == ACK:
                message.ack()
            else:
                message.requeue()
        except Exception:  # pragma: no cover - the connection died under us
            log.debug("could not settle a delivery", exc_info=True)


def on_event_batch(producer: str, event_type: str, *, max_batch: int = 200, max_wait: float = 0.01,
                   concurrency: int = 2, prefetch: int | None = None):
    """Subscribe a batch handler to ``producer``'s ``event_type`` on the same
    durable queue :func:`kernel.nameko.handlers.on_event` uses. Stack it over
    :func:`handles_batch`."""
    return BatchEventHandler.decorator(producer, event_type, max_batch=max_batch, max_wait=max_wait,
                                       concurrency=concurrency, prefetch=prefetch)


def claim_many(session, processed, consumer: str, event_ids) -> set[str]:
    """Mark ``event_ids`` processed by ``consumer`` in the caller's
    transaction; the ids not processed before (one statement on PostgreSQL
    and SQLite). Ids are inserted in sorted order so that two transactions
    claiming overlapping ids wait for each other rather than deadlock."""
    ids = sorted(set(event_ids))
    if not ids:
        return set()
    now = utcnow()
    # An executemany with RETURNING: SQLAlchemy sends it as one multi-row
    # INSERT per 1,000 ids, compiled once and cached.
    stmt = (dialect_insert(session, processed).on_conflict_do_nothing(index_elements=["consumer", "event_id"])
            .returning(processed.c.event_id))
    rows = [{"consumer": consumer, "event_id": i, "processed_at": now} for i in ids]
    return set(session.connection().execute(stmt, rows).scalars())


def handles_batch(consumer: str, processed_table):
    """Make a batch handler idempotent and poison-safe (the batch counterpart
    of :func:`kernel.nameko.handlers.handles`).

    The decorated method gets ``(self, session, envelopes)``: the valid,
    not yet processed envelopes of the batch, each once, in delivery order,
    inside one transaction that also records them as processed by
    ``consumer``. It must handle every envelope it is given or raise. The
    service needs ``self.db`` and ``self.dead_letters``.

    ``processed_table=None`` skips that record, as for
    :func:`kernel.nameko.handlers.handles`, for a handler whose effect is
    idempotent by itself (repeats within one batch are still dropped).
    """
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(self, bodies):
            outcomes = [ACK] * len(bodies)
            # A packed message (kernel.events.unpack) carries several
            # envelopes; a message is acked when all of its envelopes are.
            first: dict[str, tuple[int, dict]] = {}   # event id -> (its first message, envelope)
            duplicates = events = 0
            for i, body in enumerate(bodies):
                for item in unpack(body):
                    events += 1
                    env = valid_or_dead_lettered(self, consumer, item)
                    if env is None:
                        continue
                    if env["id"] in first:
                        duplicates += 1
                    else:
                        first[env["id"]] = (i, env)
            BATCH_SIZE.labels(consumer).observe(events)
            if not first:
                _count(consumer, duplicates=duplicates)
                return outcomes
            envs = [env for _, env in first.values()]
            try:
                with self.db.transaction() as session:
                    claimed = (set(first) if processed_table is None
                               else claim_many(session, processed_table, consumer, first))
                    fresh = [e for e in envs if e["id"] in claimed]
                    if fresh:
                        fn(self, session, fresh)
            except DBAPIError as exc:
                if _transient(exc):
                    EVENTS_HANDLED.labels(consumer, "retry").inc(len(envs))
                    eventlet.sleep(1.0)
                    for i, _ in first.values():
                        outcomes[i] = REQUEUE
                    return outcomes
                log.warning("batch of %d failed in %s (%s); handling it one by one", len(envs), consumer, exc)
            except Exception as exc:
                log.warning("batch of %d failed in %s (%s); handling it one by one", len(envs), consumer, exc)
            else:
                _count(consumer, ok=len(fresh), duplicates=duplicates + len(envs) - len(fresh))
                return outcomes
            # One event per transaction: only the poison one is dead-lettered.
            for i, env in first.values():
                if _one(self, fn, consumer, processed_table, env) == REQUEUE:
                    outcomes[i] = REQUEUE
            _count(consumer, duplicates=duplicates)
            return outcomes
        wrapper.ejournal_consumer = consumer  # the name it is counted and dead-lettered under (consumer_name)
        return wrapper
    return decorate


def _one(self, fn, consumer, processed_table, env) -> str:
    correlation.set(env.get("correlation_id"))
    try:
        with self.db.transaction() as session:
            if processed_table is not None and not claim_many(session, processed_table, consumer, [env["id"]]):
                EVENTS_HANDLED.labels(consumer, "duplicate").inc()
                return ACK
            fn(self, session, [env])
    except DBAPIError as exc:
        if _transient(exc):
            EVENTS_HANDLED.labels(consumer, "retry").inc()
            eventlet.sleep(1.0)
            return REQUEUE
        log.exception("event %s dead-lettered by %s", env.get("id"), consumer)
        EVENTS_HANDLED.labels(consumer, "dead").inc()
        self.dead_letters.put(consumer, env, f"{type(exc).__name__}: {exc}")
        return ACK
    except Exception as exc:  # poison: keep it, count it, move on
        log.exception("event %s dead-lettered by %s", env.get("id"), consumer)
        EVENTS_HANDLED.labels(consumer, "dead").inc()
        self.dead_letters.put(consumer, env, f"{type(exc).__name__}: {exc}")
        return ACK
    EVENTS_HANDLED.labels(consumer, "ok").inc()
    return ACK


def _count(consumer: str, *, ok: int = 0, duplicates: int = 0) -> None:
    # One labelled increment per batch, not per event.
    if ok:
        EVENTS_HANDLED.labels(consumer, "ok").inc(ok)
    if duplicates:
        EVENTS_HANDLED.labels(consumer, "duplicate").inc(duplicates)
