"""nameko glue: the outbox relay, idempotent event handlers, entrypoint
metrics. Only service entrypoints import this module; domain and store code
never see nameko, so a later move to another worker framework stays local.
"""
from __future__ import annotations

import base64
import functools
import inspect
import json
import logging
import time

import eventlet
from eventlet.event import Event
from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher
from nameko.extensions import DependencyProvider
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY, AMQP_URI_CONFIG_KEY, DEFAULT_SERIALIZER, LOGIN_METHOD_CONFIG_KEY, NON_PERSISTENT,
    SERIALIZER_CONFIG_KEY,
)
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import IncorrectSignature
from nameko.messaging import QueueConsumer
from nameko.rpc import Responder, Rpc, RpcConsumer, get_rpc_exchange
from nameko.rpc import RpcProxy as NamekoRpcProxy
from prometheus_client import Counter, Histogram
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from kernel import correlation, deadline, jsoncodec
from kernel.db import session_factory, shared_engine, transaction
from kernel.errors import DeadlineExceeded, ServiceError
from kernel.events import claim, envelope, outbox_rows, record, record_many, unpack, utcnow, validate_envelope

log = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE = "ejournal.dead-letters"
DEAD_LETTER_QUEUE = "ejournal.dead-letters"
#: A packed message (a JSON array of envelopes, kernel.events.record_many)
#: says how many it carries in this header.
PACKED_HEADER = "ejournal.events"

EVENTS_PUBLISHED = Counter("ejournal_events_published_total", "Events relayed from the outbox", ["service", "type"])
EVENTS_HANDLED = Counter("ejournal_events_handled_total", "Events handled", ["consumer", "result"])
DEAD_LETTERS = Counter("ejournal_dead_letters_total", "Events moved to the dead-letter queue", ["consumer"])
OUTBOX_LAG = Histogram("ejournal_outbox_lag_seconds", "Time from outbox write to broker confirm", ["service"])
RPC_SECONDS = Histogram("ejournal_entrypoint_seconds", "Entrypoint duration", ["service", "entrypoint"])
RPC_ERRORS = Counter("ejournal_entrypoint_errors_total", "Entrypoints that raised", ["service", "entrypoint", "error"])
RPC_EXPIRED = Counter("ejournal_rpc_expired_total", "RPC requests not started: their caller's deadline had passed",
                      ["service", "method"])


class _ReplyPublisher(Publisher):
    # An RPC reply goes to the caller's exclusive, auto-deleted reply queue:
    # nothing to persist, and a confirm would only make the worker wait for
    # the broker's ack (a lost reply is the caller's timeout, after which an
    # Idempotency-Key retry gets the stored result).
    use_confirms = False
    delivery_mode = NON_PERSISTENT


class _Responder(Responder):
    publisher_cls = _ReplyPublisher


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


def _malformed_request(body, message) -> str | None:
    """What makes a decoded delivery on an RPC queue no nameko request (None
    when it is one). nameko would answer it with an error, or, without a
    ``reply_to``, fail in its responder and kill the whole container."""
    if not message.properties.get("reply_to"):
        return "no reply_to"
    if not isinstance(body, dict):
        return f"the body is {type(body).__name__}, not an object"
    if not isinstance(body.get("args"), list) or not isinstance(body.get("kwargs"), dict):
        return "no args list and kwargs object"
    return None


class _RpcConsumer(RpcConsumer):
    """nameko's RpcConsumer, answering through :class:`_Responder`; a
    delivery that is no request (undecodable, :class:`_QueueConsumer`, or
    malformed) is dead-lettered, never run or answered."""

    queue_consumer = _QueueConsumer()

    def handle_message(self, body, message):
        problem = _malformed_request(body, message)
        if problem is not None:
            self.queue_consumer.keep_poison(self, message, f"malformed request: {problem}")
            return
        super().handle_message(body, message)

    def handle_result(self, message, result, exc_info):
        config = self.container.config
        responder = _Responder(
            config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config), config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER),
            message, ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        result, exc_info = responder.send_response(result, exc_info)
        self.queue_consumer.ack_message(message)
        return result, exc_info


#: The keyword under which :class:`_Rpc` hands a request's deadline to the
#: :func:`service_rpc` wrapper (never seen by the service's method).
_DEADLINE_ARG = "_ejournal_deadline"


class _Rpc(Rpc):
    rpc_consumer = _RpcConsumer()

    def handle_message(self, body, message):
        # The deadline travels with the request to its worker, which checks
        # it when it starts: a request delivered in time may still wait for
        # a free worker (kernel.deadline).
        value = (message.headers or {}).get(deadline.DEADLINE_HEADER)
        if value is not None and isinstance(body, dict) and isinstance(body.get("kwargs"), dict):
            body = {**body, "kwargs": {**body["kwargs"], _DEADLINE_ARG: value}}
        super().handle_message(body, message)

    def check_signature(self, args, kwargs):
        # nameko's own check, against the service's method rather than
        # service_rpc's (*args, **kwargs) wrapper
        fn = getattr(self.container.service_cls, self.method_name)
        fn = getattr(fn, "__wrapped__", fn)
        if _DEADLINE_ARG in kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k != _DEADLINE_ARG}
        try:
            inspect.getcallargs(fn, None, *args, **kwargs)
        except TypeError as exc:
            raise IncorrectSignature(str(exc))


def service_rpc(fn):
    """``@service_rpc``: every service's RPC entrypoint (all of a service's
    RPCs must use it: a second kind of RPC entrypoint would consume the same
    queue). A ServiceError (403, 404, 422...) is an answer, not a fault:
    nameko logs it as a warning, not as an error with a traceback. Replies go
    out without publisher confirms and non-persistent (:class:`_ReplyPublisher`).

    A request whose deadline (kernel.deadline) has passed when its worker
    starts is not carried out: it is answered with
    :class:`kernel.errors.DeadlineExceeded` (503), counted in
    ``ejournal_rpc_expired_total{service,method}`` and logged."""
    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        if _DEADLINE_ARG in kwargs:
            late = deadline.seconds_late(kwargs.pop(_DEADLINE_ARG))
            if late:
                _refuse_late(getattr(self, "name", type(self).__name__), fn.__name__, late)
        return fn(self, *args, **kwargs)
    return _Rpc.decorator(expected_exceptions=ServiceError)(run)


def _refuse_late(service: str, method: str, late: float):
    RPC_EXPIRED.labels(service, method).inc()
    log.warning("%s.%s not started: its caller's deadline passed %.3f s ago", service, method, late)
    raise DeadlineExceeded(details={"late_seconds": round(late, 3)})


class RpcProxy(NamekoRpcProxy):
    """nameko's RpcProxy whose requests carry a deadline (kernel.deadline):
    ``timeout`` seconds from the call, or the calling request's own deadline
    if that is earlier. ``timeout`` is a number or a function of the
    container's config (e.g. a setting), read when the service starts. The
    caller still bounds its wait itself (``eventlet.Timeout``)."""

    def __init__(self, target_service, *, timeout, **options):
        super().__init__(target_service, **options)
        self.timeout = timeout

    def setup(self):
        super().setup()
        self.seconds = float(self.timeout(self.container.config) if callable(self.timeout) else self.timeout)

    def get_dependency(self, worker_ctx):
        return deadline.DeadlineServiceProxy(worker_ctx, self.target_service, self.rpc_reply_listener,
                                             timeout=self.seconds, **self.options)


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
    """

    def __init__(self, tables: dict, poll: float = 0.5, batch: int = 200, confirm_timeout: float = 30.0):
        self.outbox = tables["outbox"]
        self.poll = poll
        self.batch = batch
        self.confirm_timeout = confirm_timeout

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
                while self._running and self.relay_once():
                    pass
            except Exception:  # broker or database down: keep the rows, retry
                log.exception("outbox relay failed; retrying")
                eventlet.sleep(1.0)
            with eventlet.Timeout(self.poll, False):
                self._wake.wait()
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
        transaction together with its own (kernel.db.insert_rows)."""
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


def _transient(exc: DBAPIError) -> bool:
    """A lost connection or an unavailable database: retry, don't dead-letter."""
    return isinstance(exc, (OperationalError, InterfaceError)) or bool(exc.connection_invalidated)


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


class EntrypointMetrics(DependencyProvider):
    """Times every entrypoint and counts errors; sets the correlation id."""

    def worker_setup(self, worker_ctx):
        worker_ctx.data.setdefault("correlation_id", worker_ctx.data.get("correlation_id"))
        correlation.set(worker_ctx.data.get("correlation_id"))
        worker_ctx.data["_started"] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        name = worker_ctx.entrypoint.method_name
        service = worker_ctx.container.service_name
        started = worker_ctx.data.get("_started")
        if started is not None:
            RPC_SECONDS.labels(service, name).observe(time.perf_counter() - started)
        if exc_info is not None:
            RPC_ERRORS.labels(service, name, exc_info[0].__name__).inc()


class Database(DependencyProvider):
    """Hands each worker a :class:`WorkerDb` bound to the service's engine.

    The URL comes from the container config key ``DATABASE_URL``.
    """

    def setup(self):
        url = self.container.config["DATABASE_URL"]
        self.engine = shared_engine(url)
        self.factory = session_factory(self.engine)

    def stop(self):
        self.engine.dispose()

    def kill(self):
        self.engine.dispose()

    def get_dependency(self, worker_ctx):
        return WorkerDb(self.factory)

    def worker_teardown(self, worker_ctx):
        dep = worker_ctx.service.__dict__.get(self.attr_name) if hasattr(worker_ctx, "service") else None
        if isinstance(dep, WorkerDb):
            dep.close()


class WorkerDb:
    """A worker's view of the database: a lazily opened session and a
    ``transaction()`` helper for writes."""

    def __init__(self, factory: sessionmaker):
        self.factory = factory
        self._session = None

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = self.factory()
        return self._session

    def transaction(self):
        return transaction(self.factory)

    def close(self):
        if self._session is not None:
            self._session.close()
            self._session = None
