"""Packed event messages (docs/events.md "Packed messages") and the
one-round-trip inserts, on the real broker and the real PostgreSQL: the
outbox writes the envelopes of one type as one row (a JSON array), the relay
publishes it as one message with the ``ejournal.events`` header, and the
kernel's handlers (``handles``, ``handles_batch``) unpack it so that every
envelope has exactly one effect (R-J7: a class's marks and their history
are written and published together); ``kernel.bulk.insert_rows`` writes a
request's rows in one round trip."""
from __future__ import annotations

import datetime as dt
import functools
import json

import eventlet
import psycopg2.extensions
import pytest
from kombu import Connection, Exchange, Queue
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from prometheus_client import REGISTRY
from sqlalchemy import (
    JSON, Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, Text, create_engine, event,
    select, text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError, OperationalError

from kernel.batching import handles_batch, on_event_batch
from kernel.bulk import insert_rows
from kernel.db import make_engine, session_factory, transaction
from kernel.nameko import Database
from kernel.events import PACK_LIMIT, envelope, kernel_tables, record_many, unpack
from kernel.nameko import PACKED_HEADER, DeadLetters, EntrypointMetrics, Outbox, handles, on_event
from kernel.testing import count_rows as count, database_with, drain_queue as drain, emptied_engine

metadata = MetaData()
tables = kernel_tables(metadata)
OUTBOX, PROCESSED, DEAD = tables["outbox"], tables["processed_events"], tables["dead_letters"]
effects = Table("effects", metadata,
                Column("id", Integer, primary_key=True, autoincrement=True),
                Column("consumer", String(40), nullable=False),
                Column("event_id", String(36), nullable=False), Column("value", Integer))

# insert_rows: three tables of the column types a request writes
rows_md = MetaData()
ir_a = Table("ir_a", rows_md,
             Column("id", String(36), primary_key=True), Column("note", Text, nullable=False),
             Column("maybe", String(40)), Column("at", DateTime(timezone=True), nullable=False),
             Column("flag", Boolean, nullable=False))
ir_b = Table("ir_b", rows_md,
             Column("id", Integer, primary_key=True, autoincrement=False),
             Column("a_id", String(36), nullable=False), Column("comment", Text), Column("on", Date),
             Column("removed", Boolean, nullable=False))
ir_c = Table("ir_c", rows_md,
             Column("key", String(80), primary_key=True), Column("result", JSON, nullable=False),
             Column("created_at", DateTime(timezone=True), nullable=False))
conflicts = Table("conflicts", rows_md,
                  Column("id", Integer, primary_key=True, autoincrement=False), Column("v", String(20)))

PRODUCER = "kpproducer"
SINGLE = "kpsingle.on_thing"
BATCH = "kpbatch.on_thing"
EXCHANGE = Exchange(f"{PRODUCER}.events", type="topic", durable=True)

seen_batches: list[int] = []        # fresh envelopes given to the batch handler, per batch
deliveries: list[list[int]] = []    # per batch: the envelopes each of its messages carries
transient_failures = {"left": 0}    # the single handler fails this many times on value 2


def thing(value, type="thing_made", **kw):
    return envelope(type=type, producer=PRODUCER, payload={"value": value}, school_id="s1", actor_id="a1", **kw)


# -- the database ---------------------------------------------------------------

@pytest.fixture(scope="module")
def db_url(pg_databases):
    return database_with(pg_databases, "kpacked", metadata, rows_md)


@pytest.fixture
def engine(db_url):
    seen_batches.clear()
    deliveries.clear()
    transient_failures["left"] = 0
    with emptied_engine(db_url, "outbox", "processed_events", "dead_letters", "effects", "ir_a", "ir_b", "ir_c",
                        "conflicts") as eng:
        yield eng


def outbox_rows_read(engine):
    with engine.connect() as conn:
        return conn.execute(select(OUTBOX).order_by(OUTBOX.c.seq)).all()


def effect_values(engine, consumer):
    with engine.connect() as conn:
        return sorted(conn.execute(select(effects.c.value).where(effects.c.consumer == consumer)).scalars())


def wait_until(condition, timeout=20):
    with eventlet.Timeout(timeout):
        while not condition():
            eventlet.sleep(0.05)


def handled_total(consumer: str, *results: str) -> float:
    return sum(REGISTRY.get_sample_value("ejournal_events_handled_total", {"consumer": consumer, "result": r}) or 0
               for r in results or ("ok", "duplicate"))


def queue_depth(config, name: str) -> int:
    with Connection(config["AMQP_URI"]) as conn:
        _, depth, _ = conn.default_channel.queue_declare(queue=name, passive=True)
        return depth


# -- 1. the outbox rows -----------------------------------------------------------

def test_record_many_packs_the_envelopes_of_one_type_into_one_row(db_url, engine):
    made = [thing(n, correlation_id="c1") for n in range(30)]
    gone = [thing(100 + n, type="thing_gone", correlation_id="c1") for n in range(2)]
    mixed = made[:3] + gone[:1] + made[3:17] + gone[1:] + made[17:]
    factory = session_factory(engine)
    with transaction(factory) as session:
        assert record_many(session, OUTBOX, mixed, packed=True) is mixed
    rows = outbox_rows_read(engine)
    assert [(r.event_type, r.event_id) for r in rows] == [("thing_made", made[0]["id"]), ("thing_gone", gone[0]["id"])]
    assert json.loads(rows[0].body) == made  # every envelope unchanged, in order
    assert json.loads(rows[1].body) == gone
    assert {(r.correlation_id, r.attempts, r.sent_at) for r in rows} == {("c1", 0, None)}
    assert all(r.created_at.tzinfo is not None for r in rows)

    # more than PACK_LIMIT: a full row, and the last one alone is a plain envelope
    many = [thing(n) for n in range(PACK_LIMIT + 1)]
    with transaction(factory) as session:
        record_many(session, OUTBOX, many, packed=True)
    rows = outbox_rows_read(engine)[2:]
    assert len(rows) == 2
    assert json.loads(rows[0].body) == many[:PACK_LIMIT] and rows[0].event_id == many[0]["id"]
    assert json.loads(rows[1].body) == many[PACK_LIMIT] and rows[1].event_id == many[PACK_LIMIT]["id"]

    # not packed: one row per envelope, as before
    plain = [thing(n) for n in range(3)] + [thing(9, type="thing_gone")]
    with transaction(factory) as session:
        record_many(session, OUTBOX, plain)
    rows = outbox_rows_read(engine)[4:]
    assert [r.event_id for r in rows] == [e["id"] for e in plain]
    assert [json.loads(r.body) for r in rows] == plain

    # a malformed envelope writes nothing of the call; nothing to write is no row
    with pytest.raises(ValueError):
        with transaction(factory) as session:
            record_many(session, OUTBOX, [thing(1), {"id": "x"}], packed=True)
    with transaction(factory) as session:
        assert record_many(session, OUTBOX, [], packed=True) == []
    assert count(engine, OUTBOX) == 8


def test_unpack_gives_the_envelopes_a_body_carries():
    one, two = thing(1), thing(2)
    assert unpack(one) == [one]
    assert unpack([one, two]) == [one, two]
    assert unpack([]) == []


# -- 2. the relay -----------------------------------------------------------------------

class FakeContainer:
    """What the relay reads of its nameko container."""

    def __init__(self, config: dict):
        self.service_name = PRODUCER
        self.config = config


def relay(amqp_uri: str, db_url: str) -> Outbox:
    container = FakeContainer({"AMQP_URI": amqp_uri, "DATABASE_URL": db_url})
    outbox = Outbox(tables).bind(container, "outbox")
    outbox.keep_container = container  # the extension holds it weakly
    outbox.setup()
    return outbox


def published(type: str) -> float:
    return REGISTRY.get_sample_value("ejournal_events_published_total", {"service": PRODUCER, "type": type}) or 0


def test_the_relay_publishes_a_packed_row_as_one_message(rabbit_config, db_url, engine):
    made = [thing(n, correlation_id="c7") for n in range(30)]
    gone = [thing(100 + n, type="thing_gone") for n in range(2)]
    lone = thing(200, type="thing_gone")
    with transaction(session_factory(engine)) as session:
        record_many(session, OUTBOX, made + gone, packed=True)
        record_many(session, OUTBOX, [lone], packed=True)  # a chunk of one: a plain envelope
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        EXCHANGE(conn.default_channel).declare()
        made_q, gone_q = Queue("packed.made", EXCHANGE, routing_key="thing_made"), \
            Queue("packed.gone", EXCHANGE, routing_key="thing_gone")
        for q in (made_q, gone_q):
            q(conn.default_channel).declare()
        before = published("thing_made"), published("thing_gone")

        outbox = relay(rabbit_config["AMQP_URI"], db_url)
        assert outbox.relay_once() == 3  # three rows, three messages
        outbox._disconnect()

        [message] = drain(conn, made_q)
        assert message["routing_key"] == "thing_made" and message["id"] == made[0]["id"]
        assert message["headers"] == {"nameko.correlation_id": "c7", PACKED_HEADER: 30}
        assert message["body"] == made
        got = drain(conn, gone_q)
        assert [m["body"] for m in got] == [gone, lone]
        assert got[0]["headers"] == {PACKED_HEADER: 2}
        assert PACKED_HEADER not in (got[1]["headers"] or {})
    assert count(engine, OUTBOX, OUTBOX.c.sent_at.is_(None)) == 0
    # counted by envelopes, not messages
    assert published("thing_made") - before[0] == 30
    assert published("thing_gone") - before[1] == 3


# -- 3. the single-event handler -------------------------------------------------------------

class Single:
    name = "kpsingle"
    db = Database()
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()

    @on_event(PRODUCER, "thing_made")
    @handles(SINGLE, PROCESSED)
    def on_thing(self, session, env):
        value = env["payload"]["value"]
        if value == 2 and transient_failures["left"] > 0:
            transient_failures["left"] -= 1
            raise OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))
        if value == 13:
            raise RuntimeError("unlucky")
        session.execute(effects.insert().values(consumer=SINGLE, event_id=env["id"], value=value))


@pytest.fixture
def config(rabbit_config, db_url):
    return {**rabbit_config, "DATABASE_URL": db_url, "max_workers": 4}


def test_handles_unpacks_a_packed_message_one_effect_per_envelope(container_factory, config, engine):
    container = container_factory(Single, config)
    container.start()
    dispatch = event_dispatcher(config)
    packed = [thing(n) for n in (1, 2, 3)]
    before = handled_total(SINGLE, "duplicate")
    with entrypoint_waiter(container, "on_thing", timeout=10):
        dispatch(PRODUCER, "thing_made", packed)
    assert effect_values(engine, SINGLE) == [1, 2, 3]
    assert count(engine, PROCESSED, PROCESSED.c.consumer == SINGLE) == 3

    # the same message again (at least once): three duplicates, no effect
    with entrypoint_waiter(container, "on_thing", timeout=10):
        dispatch(PRODUCER, "thing_made", packed)
    assert effect_values(engine, SINGLE) == [1, 2, 3]
    assert handled_total(SINGLE, "duplicate") - before == 3

    # a malformed and a poison envelope inside: only they are dead-lettered
    malformed, poison = {"not": "an envelope"}, thing(13)
    rest = [thing(4), thing(5)]
    with entrypoint_waiter(container, "on_thing", timeout=10):
        dispatch(PRODUCER, "thing_made", [rest[0], malformed, poison, rest[1]])
    assert effect_values(engine, SINGLE) == [1, 2, 3, 4, 5]
    with engine.connect() as conn:
        dead = conn.execute(select(DEAD.c.event_id, DEAD.c.body, DEAD.c.error, DEAD.c.consumer)
                            .order_by(DEAD.c.id)).all()
    assert [(d.event_id, json.loads(d.body), d.consumer) for d in dead] == \
        [(None, malformed, SINGLE), (poison["id"], poison, SINGLE)]  # each alone, not the whole message
    assert "malformed" in dead[0].error and "unlucky" in dead[1].error
    container.stop()
    assert queue_depth(config, f"evt-{PRODUCER}-thing_made--{SINGLE}") == 0


def test_a_transient_error_inside_a_packed_message_requeues_it_without_double_effects(
        container_factory, config, engine):
    transient_failures["left"] = 1
    container = container_factory(Single, config)
    container.start()
    before = handled_total(SINGLE, "duplicate")
    event_dispatcher(config)(PRODUCER, "thing_made", [thing(n) for n in (1, 2, 3)])
    wait_until(lambda: count(engine, effects) == 3)
    assert transient_failures["left"] == 0  # it did fail once on the 2nd envelope
    # the 1st was handled before the failure: a duplicate on the redelivery
    assert handled_total(SINGLE, "duplicate") - before == 1
    assert effect_values(engine, SINGLE) == [1, 2, 3]
    assert count(engine, DEAD) == 0
    container.stop()
    assert queue_depth(config, f"evt-{PRODUCER}-thing_made--{SINGLE}") == 0


class Producer:
    name = PRODUCER
    db = Database()
    outbox = Outbox(tables, poll=0.2)

    @rpc
    def post(self, values, together=False):
        """The journal's way: the outbox row prepared, then inserted with the
        request's own rows in one round trip (or add_many's one statement)."""
        events = [("thing_made", {"value": v}) for v in values]
        ctx = {"school_id": "s1", "actor_id": "a1", "correlation_id": "c9"}
        with self.db.transaction() as session:
            if together:
                table, rows, envs = self.outbox.prepare_many(events, ctx, packed=True)
                insert_rows(session, (ir_a, [{"id": "a1", "note": "n", "maybe": None, "at": AT, "flag": True}]),
                            (table, rows))
            else:
                envs = self.outbox.add_many(session, events, ctx, packed=True)
        return [e["id"] for e in envs]


def test_a_worker_packs_its_events_and_the_consumer_handles_each(runner_factory, config, engine):
    runner = runner_factory(config, Producer, Single)
    runner.start()
    producer = next(c for c in runner.containers if c.service_name == PRODUCER)
    consumer = next(c for c in runner.containers if c.service_name == "kpsingle")
    with entrypoint_waiter(consumer, "on_thing", timeout=10):
        with entrypoint_hook(producer, "post") as post:
            first = post([1, 3, 4])
    with entrypoint_waiter(consumer, "on_thing", timeout=10):
        with entrypoint_hook(producer, "post") as post:
            second = post([5, 6], together=True)
    assert effect_values(engine, SINGLE) == [1, 3, 4, 5, 6]
    rows = outbox_rows_read(engine)
    assert [r.event_id for r in rows] == [first[0], second[0]]  # one row per call
    assert [[e["id"] for e in json.loads(r.body)] for r in rows] == [first, second]
    assert {r.correlation_id for r in rows} == {"c9"} and count(engine, ir_a) == 1
    wait_until(lambda: count(engine, OUTBOX, OUTBOX.c.sent_at.is_(None)) == 0, timeout=10)


# -- 4. the batch handler --------------------------------------------------------------------

def recording(fn):
    """Keeps what the batch consumer handed the worker: per message, the
    envelopes it carries."""
    @functools.wraps(fn)
    def wrapper(self, bodies):
        deliveries.append([len(unpack(b)) for b in bodies])
        return fn(self, bodies)
    return wrapper


class Batched:
    name = "kpbatch"
    db = Database()
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()

    @on_event_batch(PRODUCER, "thing_made", max_batch=25, max_wait=0.3, concurrency=2)
    @recording
    @handles_batch(BATCH, PROCESSED)
    def on_thing(self, session, envelopes):
        seen_batches.append(len(envelopes))
        if any(e["payload"]["value"] == 13 for e in envelopes):
            raise RuntimeError("unlucky")
        session.execute(effects.insert(), [{"consumer": BATCH, "event_id": e["id"], "value": e["payload"]["value"]}
                                           for e in envelopes])


class Wide(Batched):
    """Room for a packed message and plain ones in one batch."""

    @on_event_batch(PRODUCER, "thing_made", max_batch=100, max_wait=0.5, concurrency=2)
    @recording
    @handles_batch(BATCH, PROCESSED)
    def on_thing(self, session, envelopes):
        seen_batches.append(len(envelopes))
        session.execute(effects.insert(), [{"consumer": BATCH, "event_id": e["id"], "value": e["payload"]["value"]}
                                           for e in envelopes])


BATCH_QUEUE = f"evt-{PRODUCER}-thing_made--{BATCH}"


def test_a_batch_mixing_a_packed_message_and_plain_ones_has_one_effect_per_event(
        container_factory, config, db_url, engine):
    container = container_factory(Wide, config)
    container.start()
    packed = [thing(n) for n in range(30)]
    with transaction(session_factory(engine)) as session:
        record_many(session, OUTBOX, packed, packed=True)
    plain = [thing(100 + n) for n in range(5)]
    dispatch = event_dispatcher(config)
    before = handled_total(BATCH)
    outbox = relay(config["AMQP_URI"], db_url)
    assert outbox.relay_once() == 1  # the packed row, published by the relay itself
    outbox._disconnect()
    for env in plain:
        dispatch(PRODUCER, "thing_made", env)
    dispatch(PRODUCER, "thing_made", packed)  # the same packed message again
    wait_until(lambda: handled_total(BATCH) - before >= 65)
    assert effect_values(engine, BATCH) == list(range(30)) + list(range(100, 105))
    assert any(30 in d and 1 in d for d in deliveries), deliveries  # one batch had both kinds

    # and once more, in a batch of its own: processed_events skips it all
    dispatch(PRODUCER, "thing_made", packed)
    wait_until(lambda: handled_total(BATCH) - before >= 95)
    assert effect_values(engine, BATCH) == list(range(30)) + list(range(100, 105))
    assert count(engine, PROCESSED, PROCESSED.c.consumer == BATCH) == 35
    assert sum(seen_batches) == 35  # the handler saw each envelope once
    assert count(engine, DEAD) == 0
    container.stop()
    assert queue_depth(config, BATCH_QUEUE) == 0


def test_a_poison_envelope_in_a_packed_message_is_dead_lettered_alone(container_factory, config, engine):
    container = container_factory(Batched, config)
    container.start()
    good = [thing(n) for n in range(5)]
    malformed, poison = {"not": "an envelope"}, thing(13)
    event_dispatcher(config)(PRODUCER, "thing_made", good[:2] + [malformed, poison] + good[2:])
    wait_until(lambda: count(engine, DEAD) == 2 and count(engine, effects) == 5)
    assert effect_values(engine, BATCH) == [0, 1, 2, 3, 4]
    with engine.connect() as conn:
        dead = conn.execute(select(DEAD.c.event_id, DEAD.c.body, DEAD.c.error).order_by(DEAD.c.id)).all()
    assert sorted((d.event_id or "", json.dumps(json.loads(d.body), sort_keys=True)) for d in dead) == \
        sorted([("", json.dumps(malformed)), (poison["id"], json.dumps(poison, sort_keys=True))])
    assert 1 in seen_batches  # the batch failed and was handled one event at a time
    eventlet.sleep(0.2)
    assert count(engine, effects) == 5 and count(engine, DEAD) == 2
    container.stop()
    assert queue_depth(config, BATCH_QUEUE) == 0  # the message was acked


def test_max_batch_counts_events_and_never_splits_a_packed_message(container_factory, config, engine):
    container = container_factory(Batched, config)  # max_batch=25
    container.start()
    dispatch = event_dispatcher(config)
    before = handled_total(BATCH)
    dispatch(PRODUCER, "thing_made", [thing(400 + n) for n in range(30)])
    wait_until(lambda: handled_total(BATCH) - before >= 30)
    assert deliveries == [[30]] and seen_batches == [30]  # whole, in one batch

    # plain messages around a packed one: a batch holds at most 25 events,
    # unless it is one message
    for env in [thing(100 + n) for n in range(20)]:
        dispatch(PRODUCER, "thing_made", env)
    dispatch(PRODUCER, "thing_made", [thing(200 + n) for n in range(30)])
    for env in [thing(300 + n) for n in range(10)]:
        dispatch(PRODUCER, "thing_made", env)
    wait_until(lambda: handled_total(BATCH) - before >= 90)
    assert all(sum(d) <= 25 or len(d) == 1 for d in deliveries), deliveries
    assert sum(d.count(30) for d in deliveries) == 2  # the packed messages, each whole
    assert count(engine, effects) == 90
    container.stop()
    assert queue_depth(config, BATCH_QUEUE) == 0


def test_a_body_that_is_not_json_is_dead_lettered_not_redelivered(container_factory, config, engine):
    """The batch consumer decodes JSON itself: a body that is not JSON is
    dead-lettered as it came (undecodable) and the consumer goes on (the
    next event takes effect, the queue ends empty)."""
    from kombu import Connection as KConnection, Exchange as KExchange, Producer

    container = container_factory(Batched, config)
    container.start()
    with KConnection(config["AMQP_URI"]) as conn:
        Producer(conn.channel()).publish(b"{not json", exchange=KExchange(f"{PRODUCER}.events", type="topic", durable=True),
                                         routing_key="thing_made", content_type="application/json",
                                         content_encoding="utf-8")
    event_dispatcher(config)(PRODUCER, "thing_made", thing(7))
    wait_until(lambda: count(engine, effects) == 1 and count(engine, tables["dead_letters"]) == 1)
    with engine.connect() as conn:
        [dead] = conn.execute(select(tables["dead_letters"])).mappings().all()
    assert dead["body"] == "{not json" and dead["error"].startswith("undecodable: JSONDecodeError")
    container.stop()
    assert queue_depth(config, BATCH_QUEUE) == 0


# -- 5. insert_rows ----------------------------------------------------------------------------

class CountingCursor(psycopg2.extensions.cursor):
    """Counts the statements psycopg2 sends: an executemany is one per row."""
    sent = 0

    def execute(self, query, vars=None):
        CountingCursor.sent += 1
        return super().execute(query, vars)

    def executemany(self, query, vars_list):
        vars_list = list(vars_list)
        CountingCursor.sent += len(vars_list)
        return super().executemany(query, vars_list)


AT = dt.datetime(2026, 10, 12, 8, 31, 2, 123456, tzinfo=dt.timezone(dt.timedelta(hours=3)))
TRICKY = "O'Brien \"quoted\" 100% %s %(x)s \\ ; DROP TABLE ir_a; -- Ёжик 🦔 \t\n end"


def sample_rows():
    a = [{"id": "a1", "note": TRICKY, "maybe": None, "at": AT, "flag": True},
         {"id": "a2", "note": "", "maybe": "it's", "at": AT.astimezone(dt.timezone.utc), "flag": False}]
    b = [{"id": n, "a_id": "a1", "comment": None if n % 2 else f"№{n} 50%", "on": dt.date(2026, 9, n),
          "removed": bool(n % 3)} for n in range(1, 11)]
    c = [{"key": "k'1", "result": {"marks": [{"id": "m1", "comment": TRICKY, "value": "5"}], "n": None},
          "created_at": AT}]
    return a, b, c


def read_back(engine):
    with engine.connect() as conn:
        return ([dict(r._mapping) for r in conn.execute(select(ir_a).order_by(ir_a.c.id))],
                [dict(r._mapping) for r in conn.execute(select(ir_b).order_by(ir_b.c.id))],
                [dict(r._mapping) for r in conn.execute(select(ir_c).order_by(ir_c.c.key))])


def test_insert_rows_on_postgresql_is_one_round_trip(db_url, engine):
    eng = make_engine(db_url, connect_args={"cursor_factory": CountingCursor})
    executions = []
    event.listen(eng, "before_cursor_execute", lambda conn, cur, statement, *a: executions.append(statement))
    a, b, c = sample_rows()
    try:
        with transaction(session_factory(eng)) as session:
            session.connection()  # checked out (and pinged) before counting
            executions.clear()
            CountingCursor.sent = 0
            insert_rows(session, (ir_a, a), (ir_b, b), (conflicts, []), (ir_c, c))
            assert CountingCursor.sent == 1
        assert len(executions) == 1
        assert [executions[0].count(f"INSERT INTO {t}") for t in ("ir_a", "ir_b", "ir_c", "conflicts")] == \
            [1, 1, 1, 0]
    finally:
        eng.dispose()
    got_a, got_b, got_c = read_back(engine)
    assert got_a == a and got_b == b and got_c == c
    assert got_a[0]["at"] == AT and got_a[0]["at"].utcoffset() is not None

    # nothing to insert: no statement at all
    with transaction(session_factory(engine)) as session:
        insert_rows(session, (ir_a, []), (ir_b, []))


def test_insert_rows_sends_a_value_every_row_shares_once(engine):
    """A class's marks share their school, lesson, author and time: such a
    value travels once (a one-row record beside the rows' own values), the
    rows read back exactly as given, with ON CONFLICT as well."""
    statements = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        rows = [{"id": f"s{n}", "note": TRICKY, "maybe": None, "at": AT, "flag": True} for n in range(6)]
        with transaction(session_factory(engine)) as session:
            insert_rows(session, (ir_a, rows), (ir_c, [{"key": f"k{n}", "result": {"marks": [1, 2]}, "created_at": AT}
                                                       for n in range(3)]))
        [sent] = [s for s in statements if "INSERT INTO ir_a" in s]
        assert "json_populate_record(" in sent and sent.count("O''Brien") == 1, sent
        got_a, _, got_c = read_back(engine)
        assert got_a == rows and got_a[0]["at"].utcoffset() is not None
        assert got_c == [{"key": f"k{n}", "result": {"marks": [1, 2]}, "created_at": AT} for n in range(3)]
        # redelivered with two new rows: only those are added, the shared values still once
        again = [{**row, "note": "другая"} for row in rows[:4]] + \
            [{"id": f"s{n}", "note": "другая", "maybe": None, "at": AT, "flag": True} for n in (6, 7)]
        with transaction(session_factory(engine)) as session:
            insert_rows(session, (ir_a, again, ["id"]))
        got_a, _, _ = read_back(engine)
        assert [(r["id"], r["note"]) for r in got_a] == [(f"s{n}", TRICKY) for n in range(6)] + \
            [("s6", "другая"), ("s7", "другая")]
        # JSON documents are never shared (1 == True there), nor one instant in two time zones
        equalish = [{"key": f"j{n}", "result": {"v": value}, "created_at": at} for n, (value, at) in enumerate(
            [(1, AT), (True, AT.astimezone(dt.timezone.utc)), (1, AT)])]
        statements.clear()
        with transaction(session_factory(engine)) as session:
            insert_rows(session, (ir_c, equalish))
        [sent] = [s for s in statements if "INSERT INTO ir_c" in s]
        assert "json_populate_record(" not in sent
        _, _, got_c = read_back(engine)
        assert [r["result"]["v"] for r in got_c if r["key"].startswith("j")] == [1, True, 1]
        # a value shared by some rows only stays in each row
        mixed = [{"id": 1, "v": "1"}, {"id": 2, "v": "1"}, {"id": 3, "v": "2"}]
        with transaction(session_factory(engine)) as session:
            insert_rows(session, (conflicts, mixed))
        with engine.connect() as conn:
            assert [tuple(r) for r in conn.execute(select(conflicts).order_by(conflicts.c.id))] == [
                (1, "1"), (2, "1"), (3, "2")]
    finally:
        event.remove(engine, "before_cursor_execute", seen)


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_insert_rows_leaves_nothing_when_a_row_fails(database, db_url, engine, tmp_path):
    eng = engine if database == "postgresql" else make_engine(f"sqlite:///{tmp_path / 'rows.db'}")
    if database == "sqlite":
        rows_md.create_all(eng)
    factory = session_factory(eng)
    a, b, c = sample_rows()
    with pytest.raises(IntegrityError):
        with transaction(factory) as session:
            insert_rows(session, (ir_a, a), (ir_b, b + [{**b[0], "comment": "again"}]), (ir_c, c))
    assert [count(eng, t) for t in (ir_a, ir_b, ir_c)] == [0, 0, 0]
    # and the same call without the duplicate goes through
    with transaction(factory) as session:
        insert_rows(session, (ir_a, a), (ir_b, b), (ir_c, c))
    assert [count(eng, t) for t in (ir_a, ir_b, ir_c)] == [2, 10, 1]
    if database == "sqlite":
        eng.dispose()


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_insert_rows_refuses_rows_without_a_column_that_has_a_python_default(database, engine, tmp_path):
    """Core fills a Python-side default in on SQLite, the PostgreSQL path
    would not: both refuse such rows alike, before sending anything."""
    from sqlalchemy import Column as Col, Integer as Int, MetaData as Md, Table as Tb
    md = Md()
    defaulted = Tb("ir_defaulted", md, Col("id", Int, primary_key=True), Col("attempts", Int, nullable=False, default=0))
    eng = engine if database == "postgresql" else make_engine(f"sqlite:///{tmp_path / 'defaults.db'}")
    md.create_all(eng)
    with pytest.raises(ValueError, match="attempts"):
        with transaction(session_factory(eng)) as session:
            insert_rows(session, (defaulted, [{"id": 1}]))
    with transaction(session_factory(eng)) as session:
        insert_rows(session, (defaulted, [{"id": 1, "attempts": 0}]))
    assert count(eng, defaulted) == 1
    md.drop_all(eng)
    if database == "sqlite":
        eng.dispose()


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_insert_rows_with_keys_skips_rows_whose_key_is_taken(database, engine, tmp_path):
    """``(table, rows, keys)``: ON CONFLICT (keys) DO NOTHING, a redelivered
    projection changes nothing (also a key twice in one call); a conflict on
    another unique constraint still fails."""
    from sqlalchemy import Column as Col, Integer as Int, MetaData as Md, String as Str, Table as Tb
    md = Md()
    refs = Tb("ir_refs", md, Col("id", Str(36), primary_key=True), Col("v", Int), Col("code", Str(10), unique=True))
    eng = engine if database == "postgresql" else make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    md.create_all(eng)
    factory = session_factory(eng)
    with transaction(factory) as session:
        insert_rows(session, (refs, [{"id": "a", "v": 1, "code": "A"}, {"id": "b", "v": 2, "code": "B"}], ["id"]))
    with transaction(factory) as session:
        insert_rows(session, (refs, [{"id": "b", "v": 20, "code": "B2"}, {"id": "c", "v": 3, "code": "C"},
                                     {"id": "c", "v": 30, "code": "C3"}], ["id"]))
    with eng.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(refs).order_by(refs.c.id))] == [
            ("a", 1, "A"), ("b", 2, "B"), ("c", 3, "C")]
    with pytest.raises(IntegrityError):
        with transaction(factory) as session:
            insert_rows(session, (refs, [{"id": "d", "v": 4, "code": "A"}], ["id"]))
    md.drop_all(eng)
    if database == "sqlite":
        eng.dispose()


def test_insert_rows_fills_a_column_whose_key_is_not_its_name(engine):
    """Rows are keyed by column keys; on PostgreSQL the JSON document must
    carry the columns' names (json_populate_recordset matches names)."""
    from sqlalchemy import Column as Col, Integer as Int, MetaData as Md, String as Str, Table as Tb
    md = Md()
    aliased = Tb("ir_aliased", md, Col("id", Int, primary_key=True), Col("real_name", Str(20), key="alias"))
    md.create_all(engine)
    with transaction(session_factory(engine)) as session:
        insert_rows(session, (aliased, [{"id": 1, "alias": "x"}]))
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(aliased))] == [(1, "x")]
    md.drop_all(engine)


@pytest.mark.parametrize("rows", [1, 5])  # the VALUES path and the JSON document path
def test_insert_rows_refuses_a_boolean_that_is_not_a_bool(engine, rows):
    """PostgreSQL would read "yes" as true: insert_rows checks what
    Boolean's own bind processing would, before sending anything."""
    a, b, c = sample_rows()
    bad = b[:rows]
    bad[-1] = {**bad[-1], "removed": "yes"}
    with pytest.raises(TypeError, match="removed"):
        with transaction(session_factory(engine)) as session:
            insert_rows(session, (ir_a, a), (ir_b, bad))
    assert [count(engine, t) for t in (ir_a, ir_b)] == [0, 0]


@pytest.mark.parametrize("rows", [1, 5])  # the VALUES path and the JSON document path
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_insert_rows_refuses_a_float_that_is_not_finite(engine, rows, bad):
    """The JSON document would carry null for it (kernel.jsoncodec): a
    number silently becoming NULL is refused before anything is sent."""
    from sqlalchemy import Column as Col, Float, Integer as Int, MetaData as Md, Table as Tb
    md = Md()
    scores = Tb("ir_scores", md, Col("id", Int, primary_key=True), Col("score", Float))
    md.create_all(engine)
    try:
        good = [{"id": n, "score": n / 3} for n in range(rows)]
        with pytest.raises(ValueError, match="score"):
            with transaction(session_factory(engine)) as session:
                insert_rows(session, (scores, good[:-1] + [{"id": rows, "score": bad}]))
        assert count(engine, scores) == 0
        with transaction(session_factory(engine)) as session:
            insert_rows(session, (scores, good))
        with engine.connect() as conn:
            assert [r.score for r in conn.execute(select(scores).order_by(scores.c.id))] == [n / 3 for n in range(rows)]
    finally:
        md.drop_all(engine)


def test_insert_rows_on_sqlite_uses_core_executemany(tmp_path):
    eng = make_engine(f"sqlite:///{tmp_path / 'core.db'}")
    rows_md.create_all(eng)
    executions = []
    event.listen(eng, "before_cursor_execute",
                 lambda conn, cur, statement, params, context, many: executions.append((statement, many)))
    a, b, c = sample_rows()
    with transaction(session_factory(eng)) as session:
        insert_rows(session, (ir_a, a), (ir_b, b), (ir_c, c))
    inserts = [s for s, _ in executions if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 3  # one executemany (or multi-row insert) per table
    got_a, got_b, got_c = read_back(eng)
    eng.dispose()
    # SQLite keeps a timestamp's wall clock and drops its zone
    def naive(row):
        return {k: v.replace(tzinfo=None) if isinstance(v, dt.datetime) else v for k, v in row.items()}
    assert got_a == [naive(r) for r in a] and got_b == b and got_c == [naive(r) for r in c]


# -- 6. executemany_mode -----------------------------------------------------------------------

def on_conflict_round_trips(eng) -> int:
    stmt = pg_insert(conflicts).on_conflict_do_nothing()
    with eng.begin() as conn:
        conn.execute(text("DELETE FROM conflicts WHERE id < 40"))
        CountingCursor.sent = 0
        conn.execute(stmt, [{"id": n, "v": f"v{n}"} for n in range(50)])
        sent = CountingCursor.sent
    return sent


def test_make_engine_sends_an_on_conflict_executemany_in_one_round_trip(db_url, engine):
    with engine.begin() as conn:  # ten of the fifty are there already
        conn.execute(conflicts.insert(), [{"id": n, "v": "old"} for n in range(40, 50)])
    fast = make_engine(db_url, connect_args={"cursor_factory": CountingCursor})
    plain = create_engine(db_url, connect_args={"cursor_factory": CountingCursor})
    try:
        assert fast.dialect.executemany_mode != plain.dialect.executemany_mode
        assert on_conflict_round_trips(fast) <= 1
        with fast.connect() as conn:
            rows = conn.execute(select(conflicts.c.id, conflicts.c.v).order_by(conflicts.c.id)).all()
        assert [r.id for r in rows] == list(range(50))
        assert {r.v for r in rows[40:]} == {"old"}  # the conflicts did nothing
        # what it was before: psycopg2's executemany, a statement per row
        assert on_conflict_round_trips(plain) == 50
    finally:
        fast.dispose()
        plain.dispose()
