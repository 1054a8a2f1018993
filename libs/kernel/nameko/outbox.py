"""The transactional outbox: workers record events in their own
transaction (:class:`WorkerOutbox`), and :class:`Outbox` relays the rows to
the service's event exchange with publisher confirms."""
from __future__ import annotations

import logging
import time

import eventlet
from eventlet.event import Event
from kombu import Exchange
from nameko.extensions import DependencyProvider
from sqlalchemy import bindparam, func, select, update

from kernel import jsoncodec
from kernel.db import session_factory, shared_engine, transaction
from kernel.events import envelope, outbox_rows, record, record_many, utcnow
from kernel.nameko.metrics import EVENTS_PUBLISHED, OUTBOX_LAG, OUTBOX_OLDEST

log = logging.getLogger(__name__)

#: A packed message (a JSON array of envelopes, kernel.events.record_many)
#: says how many it carries in this header.
PACKED_HEADER = "ejournal.events"

#: seconds between two measures of the oldest unsent row (one indexed query)
BACKLOG_EVERY = 5.0


def _aware(moment):
    """kernel.db.UtcDateTime gives aware datetimes; a bare one is UTC."""
    import datetime as dt

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.timezone.utc)


def event_exchange(service: str) -> Exchange:
    # Same declaration as nameko's own EventDispatcher, so event_handler
    # consumers bind to it unchanged.
    return Exchange(f"{service}.events", type="topic", durable=True, delivery_mode=2, auto_delete=False)


class _FrameCollector:
    """Inside ``with``, the frames py-amqp writes on ``connection`` are
    collected instead of sent; ``send()`` then writes them with one socket
    call (a batch of 30 publishes was 30 sends, a tenth of the journal's
    CPU). Only the relay writes on its connection, so nothing interleaves."""

    def __init__(self, connection):
        from amqp.method_framing import frame_writer

        self.connection = connection
        self.chunks: list[bytes] = []
        self.writer = frame_writer(connection, self)  # calls self.write with each frame

    def write(self, data) -> None:
        self.chunks.append(bytes(data))  # the writer reuses its buffer

    def __enter__(self):
        self.real, self.connection.frame_writer = self.connection.frame_writer, self.writer
        return self

    def __exit__(self, *exc):
        self.connection.frame_writer = self.real

    def send(self) -> None:
        if self.chunks:
            self.connection.transport.write(b"".join(self.chunks))
            self.chunks = []


class RelayIncomplete(Exception):
    """Some rows of a relayed batch were not confirmed by the broker
    (refused, or the connection failed before its confirm); they stay
    unsent and the relay retries them."""


class Outbox(DependencyProvider):
    """Gives workers ``add(session, type, payload, ctx)`` and relays the
    outbox to the broker with publisher confirms.

    The relay wakes when a worker that wrote events finishes, and polls every
    ``poll`` seconds for rows written by other processes or left behind by a
    crash. A batch is published on one confirm-mode channel and its confirms
    are awaited together (at most ``confirm_timeout`` seconds); rows are
    marked sent only for the messages the broker confirmed, so a refused
    message, a timeout or a lost connection leaves its row to the next try.
    Delivery is at least once; consumers are idempotent.

    ``gather`` (seconds, 0 by default): once woken by a worker, the relay
    waits that long first, so that the rows of the workers finishing
    meanwhile go out in the same pass (a pass is a transaction of its own
    and a wait for the broker's confirms, whatever its number of rows).
    """

    def __init__(self, tables: dict, poll: float = 0.5, batch: int = 200, confirm_timeout: float = 30.0,
                 gather: float = 0.0):
        self.outbox = tables["outbox"]
        self.poll = poll
        self.batch = batch
        self.confirm_timeout = confirm_timeout
        self.gather = gather

    def setup(self):
        self.service = self.container.service_name
        self.engine = shared_engine(self.container.config["DATABASE_URL"])
        self.factory = session_factory(self.engine)
        self.exchange = event_exchange(self.service)
        self._wake = Event()
        self._running = False
        self._conn = self._channel = None
        self._confirmed: set[int] = set()
        self._refused: set[int] = set()
        self._pending: set[int] = set()
        self._statements = None
        self._measured_at = float("-inf")

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._loop, identifier=f"{self.service}.outbox-relay")

    def stop(self):
        self._running = False
        self.kick()

    def kill(self):
        self._running = False
        self._disconnect()

    def kick(self):
        if not self._wake.ready():
            self._wake.send(True)

    def _loop(self):
        declared = False
        while self._running:
            try:
                if not declared:
                    with self.publisher_connection() as conn:
                        self.exchange.maybe_bind(conn)
                        self.exchange.declare()
                    declared = True
                # a batch short of full emptied the outbox as this relay saw it: a row
                # committed since has kicked the wake event, so no empty query after it
                while self._running and self.relay_once() >= self.batch:
                    pass
            except Exception:  # broker or database down: keep the rows, retry
                log.exception("outbox relay failed; retrying")
                eventlet.sleep(1.0)
            self._measure_backlog()
            with eventlet.Timeout(self.poll, False):
                self._wake.wait()
            if self.gather and self._running and self._wake.ready():
                eventlet.sleep(self.gather)  # the kicks of meanwhile are this wake's too: their rows are committed
            self._wake = Event()
        self._disconnect()
        self.engine.dispose()

    def publisher_connection(self):
        from kombu import Connection
        return Connection(self.container.config["AMQP_URI"])

    # -- the confirm-mode channel ------------------------------------------

    def _confirm_channel(self):
        """The relay's own connection and channel in confirm mode (opened
        on first use and after a failure)."""
        if self._channel is None:
            conn = self.publisher_connection()
            try:
                conn.connect()
                channel = conn.channel()  # a py-amqp channel: publishes do not wait
                channel.confirm_select()
            except Exception:
                conn.release()
                raise
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            self._conn, self._channel, self._next_tag = conn, channel, 1
            self._confirmed, self._refused = set(), set()
        return self._channel

    def _settle(self, into: set, tag: int, multiple: bool):
        if multiple:
            into.update(t for t in self._pending if t <= tag)
        else:
            into.add(tag)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(self._confirmed, delivery_tag, multiple)

    def _on_nack(self, delivery_tag, multiple):
        self._settle(self._refused, delivery_tag, multiple)

    def _disconnect(self, broken: bool = False):
        """Close the relay's connection; a ``broken`` one is dropped without
        the closing handshake (a broker that stopped answering would never
        complete it)."""
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.collect() if broken else conn.release()
            except Exception:  # already broken
                log.debug("closing the relay's connection failed", exc_info=True)

    def _publish_batch(self, rows, counts: dict) -> tuple[list, Exception | None]:
        """Publish ``rows`` and wait for all their confirms; the rows the
        broker confirmed, and what went wrong with the others (if anything).
        ``counts`` gets the number of envelopes of each row (by ``seq``)."""
        from amqp import Message

        by_tag = {}
        self._pending = set()
        self._confirmed, self._refused = set(), set()
        try:
            channel = self._confirm_channel()
            frames = _FrameCollector(self._conn.connection)
            with frames:
                for row in rows:
                    headers = {"nameko.correlation_id": row.correlation_id} if row.correlation_id else {}
                    count = counts[row.seq] = _event_count(row.body)
                    if count > 1:
                        headers[PACKED_HEADER] = count
                    body = row.body.encode("utf-8") if isinstance(row.body, str) else row.body
                    message = Message(body, content_type="application/json", content_encoding="utf-8",
                                      delivery_mode=2, priority=0, application_headers=headers,
                                      message_id=row.event_id)
                    tag = self._next_tag
                    by_tag[tag] = row
                    self._pending.add(tag)
                    self._next_tag += 1
                    channel.basic_publish(message, exchange=self.exchange.name, routing_key=row.event_type)
            frames.send()
            deadline = time.monotonic() + self.confirm_timeout
            while self._pending - self._confirmed - self._refused:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no broker confirm within {self.confirm_timeout:.0f}s")
                self._conn.drain_events(timeout=left)
        except Exception as exc:  # lost connection, timeout: start afresh next time
            self._disconnect(broken=True)
            error = exc
        else:
            error = RelayIncomplete(f"{len(self._refused)} of {len(rows)} events refused by the broker") \
                if self._refused else None
        done = [by_tag[t] for t in sorted(self._confirmed - self._refused) if t in by_tag]
        return done, error

    def _measure_backlog(self) -> None:
        """Set ``ejournal_outbox_oldest_unsent_seconds`` (at most every
        BACKLOG_EVERY seconds): the age of the oldest row the broker has not
        confirmed, 0 when there is none. It grows while the broker is away
        or refuses, which the lag histogram (observed on confirm) cannot show."""
        now = time.monotonic()
        if now - self._measured_at < BACKLOG_EVERY:
            return
        self._measured_at = now
        try:
            with self.engine.connect() as conn:
                oldest = conn.execute(select(func.min(self.outbox.c.created_at))
                                      .where(self.outbox.c.sent_at.is_(None))).scalar()
        except Exception:  # the database is away: the last value stays, its own alert says so
            log.warning("outbox backlog not measured", exc_info=True)
            return
        age = 0.0 if oldest is None else max(0.0, (utcnow() - _aware(oldest)).total_seconds())
        OUTBOX_OLDEST.labels(self.service).set(age)

    def relay_once(self) -> int:
        """Publish one batch of unsent rows; the number confirmed. Raises
        (after marking the confirmed ones sent) if some were not."""
        if self._statements is None:  # built once: the relay runs after every write
            query = select(self.outbox).where(self.outbox.c.sent_at.is_(None)).order_by(self.outbox.c.seq).limit(self.batch)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            mark_sent = update(self.outbox).where(self.outbox.c.seq.in_(bindparam("seqs", expanding=True))) \
                .values(sent_at=bindparam("now"))
            self._statements = (query, mark_sent)
        query, mark_sent = self._statements
        with transaction(self.factory) as session:
            rows = session.connection().execute(query).all()
            if not rows:
                return 0
            counts: dict[int, int] = {}
            done, error = self._publish_batch(rows, counts)
            now = utcnow()
            for row in done:
                EVENTS_PUBLISHED.labels(self.service, row.event_type).inc(counts.get(row.seq, 1))
                log.info("published %s", row.event_type, extra={
                    "event": "published", "type": row.event_type, "event_id": row.event_id,
                    "correlation_id": row.correlation_id or "-"})
                created = row.created_at  # aware on every database (kernel.db.UtcDateTime)
                if created is not None:
                    OUTBOX_LAG.labels(self.service).observe(max(0.0, (now - created).total_seconds()))
            if done:
                session.connection().execute(mark_sent, {"seqs": [r.seq for r in done], "now": now})
        if error is not None:
            raise error
        return len(done)

    def get_dependency(self, worker_ctx):
        return WorkerOutbox(self, worker_ctx)

    def worker_teardown(self, worker_ctx):
        if worker_ctx.data.get("_outbox_dirty"):
            self.kick()


def _event_count(body) -> int:
    """How many envelopes an outbox row's body holds (a packed row is a JSON
    array of them)."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return len(jsoncodec.loads(text)) if text.lstrip().startswith("[") else 1


class WorkerOutbox:
    def __init__(self, provider: Outbox, worker_ctx):
        self.provider = provider
        self.worker_ctx = worker_ctx

    def add(self, session, type: str, payload: dict, ctx: dict | None = None) -> dict:
        """Record event ``type`` in the caller's transaction."""
        ctx = ctx or {}
        env = envelope(
            type=type, producer=self.provider.service, payload=payload,
            school_id=ctx.get("school_id"), actor_id=ctx.get("actor_id"),
            correlation_id=ctx.get("correlation_id") or self.worker_ctx.data.get("correlation_id"),
        )
        record(session, self.provider.outbox, env)
        self.worker_ctx.data["_outbox_dirty"] = True
        return env

    def add_many(self, session, events: list[tuple[str, dict]], ctx: dict | None = None, *,
                 packed: bool = False) -> list[dict]:
        """Record several ``(type, payload)`` events in the caller's
        transaction with one statement (kernel.events.record_many);
        ``packed=True``: one message per type carries them all (every
        consumer of those types must unpack, as kernel's handlers do)."""
        envs = self._envelopes(events, ctx)
        record_many(session, self.provider.outbox, envs, packed=packed)
        if envs:
            self.worker_ctx.data["_outbox_dirty"] = True
        return envs

    def prepare_many(self, events: list[tuple[str, dict]], ctx: dict | None = None, *,
                     packed: bool = False) -> tuple:
        """``(outbox table, rows, envelopes)`` of :meth:`add_many` without
        the insert, for a caller that inserts the rows in its own
        transaction together with its own (kernel.bulk.insert_rows)."""
        envs = self._envelopes(events, ctx)
        rows = outbox_rows(envs, packed=packed)
        if rows:
            self.worker_ctx.data["_outbox_dirty"] = True
        return self.provider.outbox, rows, envs

    def _envelopes(self, events, ctx) -> list[dict]:
        ctx = ctx or {}
        cid = ctx.get("correlation_id") or self.worker_ctx.data.get("correlation_id")
        return [envelope(type=type, producer=self.provider.service, payload=payload,
                         school_id=ctx.get("school_id"), actor_id=ctx.get("actor_id"), correlation_id=cid)
                for type, payload in events]
