"""The kernel's batching event consumer (kernel.batching) on the real broker
and the real PostgreSQL: batches, exactly one effect per event, poison
events dead-lettered alone, transient errors requeued, acks after commit."""
import eventlet
import pytest
from kombu import Connection
from nameko.events import SERVICE_POOL, event_handler
from nameko.standalone.events import event_dispatcher
from nameko.testing.services import entrypoint_waiter
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.exc import OperationalError

from kernel.batching import BatchEventHandler, claim_many, handles_batch, on_event_batch
from kernel.db import make_engine, session_factory, transaction
from kernel.nameko import Database
from kernel.events import envelope, kernel_tables
from kernel.nameko import DeadLetters, EntrypointMetrics
from kernel.topology import event_queues
from kernel.testing import count_rows as count, database_with, emptied_engine

metadata = MetaData()
tables = kernel_tables(metadata)
effects = Table("effects", metadata,
                Column("id", Integer, primary_key=True, autoincrement=True),
                Column("event_id", String(36), nullable=False), Column("value", Integer))

CONSUMER = "kbatch.on_thing"
seen_batches: list[int] = []      # sizes of the batches the handler was given
transient_failures = {"left": 0}  # the handler raises a lost-connection error this many times


class Batcher:
    name = "kbatch"
    db = Database()
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()

    @on_event_batch("kbproducer", "thing_made", max_batch=25, max_wait=0.2, concurrency=2)
    @handles_batch(CONSUMER, tables["processed_events"])
    def on_thing(self, session, envelopes):
        seen_batches.append(len(envelopes))
        if transient_failures["left"] > 0:
            transient_failures["left"] -= 1
            raise OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))
        for env in envelopes:
            if env["payload"].get("value") == 13:
                raise RuntimeError("unlucky")
        session.execute(effects.insert(), [{"event_id": e["id"], "value": e["payload"]["value"]}
                                           for e in envelopes])


class Eager(Batcher):
    """Small batches, more wanted at once than the container has workers."""

    @on_event_batch("kbproducer", "thing_made", max_batch=5, max_wait=0, concurrency=8)
    @handles_batch(CONSUMER, tables["processed_events"])
    def on_thing(self, session, envelopes):
        seen_batches.append(len(envelopes))
        eventlet.sleep(0.01)  # hold the worker a little: the pool fills up
        session.execute(effects.insert(), [{"event_id": e["id"], "value": e["payload"]["value"]}
                                           for e in envelopes])


class OneByOne:
    """The same queue through the kernel's one-event handler, for comparison."""
    name = "kbatch"

    @event_handler("kbproducer", "thing_made", handler_type=SERVICE_POOL, reliable_delivery=True,
                   requeue_on_error=True)
    def on_thing(self, body):  # pragma: no cover - never started
        pass


@pytest.fixture(scope="module")
def db_url(pg_databases):
    return database_with(pg_databases, "kbatch", metadata)


@pytest.fixture
def engine(db_url):
    seen_batches.clear()
    transient_failures["left"] = 0
    with emptied_engine(db_url, "outbox", "processed_events", "dead_letters", "effects") as eng:
        yield eng


@pytest.fixture
def config(rabbit_config, db_url):
    return {**rabbit_config, "DATABASE_URL": db_url, "max_workers": 4}


def thing(value):
    return envelope(type="thing_made", producer="kbproducer", payload={"value": value}, school_id="s",
                    actor_id=None)


def handled(container, n, timeout=20):
    """Wait until the batch handler has been given ``n`` deliveries."""
    got = {"n": 0}

    def done(worker_ctx, result, exc_info):
        got["n"] += len(worker_ctx.args[0])
        return got["n"] >= n

    return entrypoint_waiter(container, "on_thing", callback=done, timeout=timeout)


def queue_depth(config) -> int:
    """Ready messages left on the handler's queue (unacked ones return to
    ready when the consumer's channel closes)."""
    with Connection(config["AMQP_URI"]) as conn:
        _, count_, _ = conn.default_channel.queue_declare(queue="evt-kbproducer-thing_made--kbatch.on_thing",
                                                          passive=True)
        return count_


def test_the_batch_consumer_uses_the_queue_on_event_would(rabbit_config):
    config = {**rabbit_config, "DATABASE_URL": "sqlite://"}
    [batched] = event_queues(Batcher, config)
    [plain] = event_queues(OneByOne, config)
    assert (batched.name, batched.routing_key, batched.exchange.name, batched.durable, batched.auto_delete) == \
        (plain.name, plain.routing_key, plain.exchange.name, plain.durable, plain.auto_delete)
    assert batched.name == "evt-kbproducer-thing_made--kbatch.on_thing"


def test_an_undecodable_delivery_is_counted_under_the_batch_handlers_name(rabbit_config):
    """The name ``handles_batch`` is given is the one the queue consumer
    dead-letters an undecodable delivery under, as for ``handles``: one
    consumer, one name in the dead letters and the metrics."""
    from kernel.nameko import consumer_name
    from kernel.topology import event_handlers

    class Named(Batcher):
        @on_event_batch("kbproducer", "thing_made")
        @handles_batch("kbatch.things", tables["processed_events"])
        def on_thing(self, session, envelopes):  # pragma: no cover - never started
            pass

    [(container, handler)] = event_handlers(Named, {**rabbit_config, "DATABASE_URL": "sqlite://"})
    assert consumer_name(container, handler) == "kbatch.things"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        BatchEventHandler("p", "e", max_batch=0)
    with pytest.raises(ValueError):
        BatchEventHandler("p", "e", concurrency=0)


def test_a_burst_is_handled_in_batches_once_each_and_acked(container_factory, config, engine):
    container = container_factory(Batcher, config)
    container.start()
    dispatch = event_dispatcher(config)
    events = [thing(100 + n) for n in range(60)]
    with handled(container, 65):
        for env in events:
            dispatch("kbproducer", "thing_made", env)
        for env in events[:5]:  # at-least-once: five delivered twice
            dispatch("kbproducer", "thing_made", env)
    assert count(engine, effects) == 60
    with engine.connect() as conn:
        assert sorted(conn.execute(select(effects.c.value)).scalars()) == list(range(100, 160))
    assert count(engine, tables["processed_events"], tables["processed_events"].c.consumer == CONSUMER) == 60
    assert max(seen_batches) > 1 and max(seen_batches) <= 25
    assert count(engine, tables["dead_letters"]) == 0
    container.stop()
    assert queue_depth(config) == 0  # every delivery was acknowledged


def test_poison_in_a_batch_is_dead_lettered_alone(container_factory, config, engine):
    container = container_factory(Batcher, config)
    container.start()
    dispatch = event_dispatcher(config)
    good = [thing(n) for n in range(10)]
    poison = thing(13)
    with handled(container, 12):
        dispatch("kbproducer", "thing_made", {"not": "an envelope"})
        for env in good[:5] + [poison] + good[5:]:
            dispatch("kbproducer", "thing_made", env)
    dead = tables["dead_letters"]
    with engine.connect() as conn:
        rows = conn.execute(select(dead.c.event_id, dead.c.error, dead.c.consumer)).all()
    assert sorted((r.event_id or "") for r in rows) == sorted(["", poison["id"]])
    assert {r.consumer for r in rows} == {CONSUMER}
    assert any("unlucky" in r.error for r in rows) and any("malformed" in r.error for r in rows)
    # the good ones of the failed batch were handled one by one
    assert count(engine, effects) == 10
    assert count(engine, tables["processed_events"]) == 10
    assert 1 in seen_batches  # the one-by-one fallback ran

    # and the consumer goes on
    with handled(container, 1):
        dispatch("kbproducer", "thing_made", thing(99))
    assert count(engine, effects, effects.c.value == 99) == 1
    container.stop()
    assert queue_depth(config) == 0


def handled_total() -> float:
    """Valid deliveries the batch consumer has settled so far (ok + duplicate)."""
    return sum(REGISTRY.get_sample_value("ejournal_events_handled_total", {"consumer": CONSUMER, "result": r}) or 0
               for r in ("ok", "duplicate"))


def wait_until(condition, timeout=20):
    with eventlet.Timeout(timeout):
        while not condition():
            eventlet.sleep(0.05)


def test_a_transient_error_requeues_the_batch(container_factory, config, engine):
    transient_failures["left"] = 1
    container = container_factory(Batcher, config)
    container.start()
    dispatch = event_dispatcher(config)
    before = handled_total()
    for env in [thing(n) for n in range(5)]:
        dispatch("kbproducer", "thing_made", env)
    wait_until(lambda: handled_total() - before >= 5)
    assert transient_failures["left"] == 0  # it did fail once, and nothing was lost
    assert count(engine, effects) == 5
    assert count(engine, tables["dead_letters"]) == 0
    container.stop()
    assert queue_depth(config) == 0


def test_two_consumers_racing_on_redeliveries_make_one_effect_each(container_factory, config, engine):
    first = container_factory(Batcher, config)
    second = container_factory(Batcher, config)
    first.start()
    second.start()
    dispatch = event_dispatcher(config)
    before = handled_total()
    events = [thing(100 + n) for n in range(40)]
    for env in events + events + events:  # each delivered three times, spread over both consumers
        dispatch("kbproducer", "thing_made", env)
    wait_until(lambda: handled_total() - before >= 120)
    first.stop()
    second.stop()
    assert count(engine, effects) == 40
    assert count(engine, tables["processed_events"]) == 40
    assert queue_depth(config) == 0
    assert count(engine, tables["dead_letters"]) == 0


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_claim_many_returns_only_new_ids(database, db_url, engine, tmp_path):
    url = db_url if database == "postgresql" else f"sqlite:///{tmp_path / 'claims.db'}"
    eng = engine if database == "postgresql" else make_engine(url)
    if database == "sqlite":
        metadata.create_all(eng)
    factory = session_factory(eng)
    processed = tables["processed_events"]
    with transaction(factory) as session:
        assert claim_many(session, processed, "c", ["b", "a", "a"]) == {"a", "b"}
    with transaction(factory) as session:
        assert claim_many(session, processed, "c", ["a", "c"]) == {"c"}
        assert claim_many(session, processed, "other", ["a"]) == {"a"}
        assert claim_many(session, processed, "c", []) == set()
    with pytest.raises(RuntimeError):
        with transaction(factory) as session:
            assert claim_many(session, processed, "c", ["d"]) == {"d"}
            raise RuntimeError("rolled back")
    with transaction(factory) as session:
        assert claim_many(session, processed, "c", ["d"]) == {"d"}  # the rolled-back claim did not count
    assert count(eng, processed, processed.c.consumer == "c") == 4
    if database == "sqlite":
        eng.dispose()


def test_more_batches_wanted_than_the_container_has_workers_are_all_handled(
        container_factory, config, engine):
    container = container_factory(Eager, {**config, "max_workers": 3})
    container.start()
    dispatch = event_dispatcher(config)
    before = handled_total()
    for n in range(100):
        dispatch("kbproducer", "thing_made", thing(100 + n))
    wait_until(lambda: handled_total() - before >= 100, timeout=30)
    assert count(engine, effects) == 100
    assert max(seen_batches) <= 5
    container.stop()
    assert queue_depth(config) == 0
