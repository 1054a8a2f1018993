"""The kernel's outbox relay and idempotent handlers on the real broker and
the real PostgreSQL (ARCHITECTURE.md "How they talk")."""
import json

import pytest
from nameko.events import SERVICE_POOL, event_handler
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook, entrypoint_waiter
from sqlalchemy import Column, Integer, String, Table, select
from sqlalchemy.orm import DeclarativeBase

from kernel import errors
from kernel.nameko import Database
from kernel.events import envelope, kernel_tables, validate_envelope
from kernel.nameko import DeadLetters, EntrypointMetrics, Outbox, handles
from kernel.testing import count_rows as count, database_with, emptied_engine


class Base(DeclarativeBase):
    pass


tables = kernel_tables(Base.metadata)
effects = Table("effects", Base.metadata,
                Column("id", Integer, primary_key=True, autoincrement=True),
                Column("event_id", String(36)), Column("value", Integer))


class Producer:
    name = "kproducer"
    db = Database()
    outbox = Outbox(tables, poll=0.2)

    @rpc
    def make(self, value, fail=False):
        with self.db.transaction() as session:
            self.outbox.add(session, "thing_made", {"value": value},
                            {"school_id": "s1", "actor_id": "a1", "correlation_id": "c1"})
            if fail:
                raise errors.RuleViolation("нельзя", code="NOPE")
        return value


class Consumer:
    name = "kconsumer"
    db = Database()
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()

    @event_handler("kproducer", "thing_made", handler_type=SERVICE_POOL,
                   reliable_delivery=True, requeue_on_error=True)
    @handles("kconsumer.thing_made", tables["processed_events"])
    def on_thing(self, session, env):
        if env["payload"].get("value") == 13:
            raise RuntimeError("unlucky")
        session.execute(effects.insert().values(event_id=env["id"], value=env["payload"]["value"]))


@pytest.fixture(scope="module")
def db_url(pg_databases):
    return database_with(pg_databases, "kernel", Base.metadata)


@pytest.fixture
def engine(db_url):
    with emptied_engine(db_url, "outbox", "processed_events", "dead_letters", "effects") as eng:
        yield eng


def test_envelope_has_every_field():
    env = envelope(type="mark_posted", producer="journal", payload={"a": 1}, school_id="s", actor_id="u")
    assert set(env) >= {"id", "type", "occurred_at", "producer", "school_id", "actor_id", "payload", "version"}
    assert validate_envelope(env) is env
    with pytest.raises(ValueError):
        validate_envelope({"id": "x"})
    with pytest.raises(ValueError):
        validate_envelope({**env, "payload": [1]})


def test_service_error_round_trips_as_json():
    exc = errors.RuleViolation("Оценки в 1 классе не ставятся", code="NO_MARKS_IN_GRADE_1", details={"grade": 1})
    data = errors.ServiceError.parse(str(exc))
    assert data == {"kind": "rule", "code": "NO_MARKS_IN_GRADE_1",
                    "message": "Оценки в 1 классе не ставятся", "details": {"grade": 1}}
    assert errors.ServiceError.parse("plain text") is None


def test_event_is_relayed_after_commit_and_handled_once(runner_factory, rabbit_config, db_url, engine):
    config = {**rabbit_config, "DATABASE_URL": db_url}
    runner = runner_factory(config, Producer, Consumer)
    runner.start()
    producer = next(c for c in runner.containers if c.service_name == "kproducer")
    consumer = next(c for c in runner.containers if c.service_name == "kconsumer")
    with entrypoint_waiter(consumer, "on_thing", timeout=10):
        with entrypoint_hook(producer, "make") as make:
            assert make(7) == 7
    assert count(engine, effects, effects.c.value == 7) == 1
    # the relay marks the row sent after the broker's confirm (the consumer
    # may be faster than that commit)
    import eventlet
    for _ in range(50):
        if count(engine, tables["outbox"], tables["outbox"].c.sent_at.is_(None)) == 0:
            break
        eventlet.sleep(0.1)
    assert count(engine, tables["outbox"], tables["outbox"].c.sent_at.is_(None)) == 0

    # the same envelope delivered again (at-least-once) has no second effect
    with engine.connect() as conn:
        body = json.loads(conn.execute(select(tables["outbox"].c.body)).scalar())
    assert body["correlation_id"] == "c1" and body["school_id"] == "s1"
    from nameko.standalone.events import event_dispatcher
    dispatch = event_dispatcher(config)
    with entrypoint_waiter(consumer, "on_thing", timeout=10):
        dispatch("kproducer", "thing_made", body)
    assert count(engine, effects) == 1


class GatheringProducer(Producer):
    name = "kgatherer"
    outbox = Outbox(tables, poll=60.0, gather=0.5)


def test_a_gathering_relay_sends_the_writes_ending_meanwhile_in_one_pass(runner_factory, rabbit_config, db_url,
                                                                          engine):
    """Outbox(gather=...): the rows of the writes that end within the
    gather after the one that woke the relay go out in the same pass (they
    are marked sent together), none is left behind."""
    import eventlet

    runner = runner_factory({**rabbit_config, "DATABASE_URL": db_url}, GatheringProducer)
    runner.start()
    producer = next(c for c in runner.containers if c.service_name == "kgatherer")
    for value in range(3):
        with entrypoint_hook(producer, "make") as make:
            assert make(value) == value
    outbox = tables["outbox"]
    for _ in range(50):
        if count(engine, outbox, outbox.c.sent_at.is_(None)) == 0:
            break
        eventlet.sleep(0.1)
    with engine.connect() as conn:
        sent = [row.sent_at for row in conn.execute(select(outbox.c.sent_at))]
    assert len(sent) == 3 and None not in sent and len(set(sent)) == 1


def test_rolled_back_write_publishes_nothing(runner_factory, rabbit_config, db_url, engine):
    config = {**rabbit_config, "DATABASE_URL": db_url}
    runner = runner_factory(config, Producer)
    runner.start()
    producer = list(runner.containers)[0]
    with entrypoint_hook(producer, "make") as make:
        with pytest.raises(errors.RuleViolation):
            make(5, fail=True)
    assert count(engine, tables["outbox"]) == 0


def test_poison_goes_to_dead_letters_and_next_event_is_processed(runner_factory, rabbit_config, db_url, engine):
    config = {**rabbit_config, "DATABASE_URL": db_url}
    runner = runner_factory(config, Consumer)
    runner.start()
    consumer = list(runner.containers)[0]
    from nameko.standalone.events import event_dispatcher
    dispatch = event_dispatcher(config)
    with entrypoint_waiter(consumer, "on_thing", timeout=10):
        dispatch("kproducer", "thing_made", {"not": "an envelope"})
    with entrypoint_waiter(consumer, "on_thing", timeout=10):
        dispatch("kproducer", "thing_made", envelope(type="thing_made", producer="kproducer",
                                                     payload={"value": 13}, school_id="s", actor_id=None))
    with entrypoint_waiter(consumer, "on_thing", timeout=10):
        dispatch("kproducer", "thing_made", envelope(type="thing_made", producer="kproducer",
                                                     payload={"value": 1}, school_id="s", actor_id=None))
    assert count(engine, tables["dead_letters"]) == 2
    assert count(engine, effects) == 1
    # the dead letters are also kept on the broker's dead-letter queue
    from kombu import Connection, Exchange, Queue
    from kernel.nameko import DEAD_LETTER_EXCHANGE, DEAD_LETTER_QUEUE
    dlq = Queue(DEAD_LETTER_QUEUE, exchange=Exchange(DEAD_LETTER_EXCHANGE, type="fanout", durable=True), durable=True)
    with Connection(config["AMQP_URI"]) as conn:
        queue = conn.SimpleQueue(dlq)
        got = [queue.get(timeout=5).payload for _ in range(2)]
        queue.close()
    assert {g["consumer"] for g in got} == {"kconsumer.thing_made"}


class SelfIdempotentConsumer:
    """A handler whose effect is idempotent by itself: no processed-event row."""
    name = "kselfidem"
    db = Database()
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()

    @event_handler("kproducer", "thing_made", handler_type=SERVICE_POOL,
                   reliable_delivery=True, requeue_on_error=True)
    @handles("kselfidem.thing_made", None)
    def on_thing(self, session, env):
        if env["payload"].get("value") == 13:
            raise RuntimeError("unlucky")
        if not session.execute(select(effects.c.id).where(effects.c.event_id == env["id"])).first():
            session.execute(effects.insert().values(event_id=env["id"], value=env["payload"]["value"]))


def test_a_handler_idempotent_by_itself_keeps_no_processed_rows_and_still_dead_letters(
        runner_factory, rabbit_config, db_url, engine):
    config = {**rabbit_config, "DATABASE_URL": db_url}
    runner = runner_factory(config, SelfIdempotentConsumer)
    runner.start()
    consumer = list(runner.containers)[0]
    from nameko.standalone.events import event_dispatcher
    dispatch = event_dispatcher(config)
    good = envelope(type="thing_made", producer="kproducer", payload={"value": 3}, school_id="s", actor_id=None)
    for body in (good, good, envelope(type="thing_made", producer="kproducer", payload={"value": 13},
                                      school_id="s", actor_id=None), {"not": "an envelope"}):
        with entrypoint_waiter(consumer, "on_thing", timeout=10):
            dispatch("kproducer", "thing_made", body)
    assert count(engine, effects) == 1
    assert count(engine, tables["processed_events"]) == 0
    assert count(engine, tables["dead_letters"], tables["dead_letters"].c.consumer == "kselfidem.thing_made") == 2
