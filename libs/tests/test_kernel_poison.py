"""Every poison message is dead-lettered (docs/architecture.md, "Domain
events" 5), on the real broker and PostgreSQL: bodies that cannot even be
decoded (not UTF-8, garbage of a content type the service does not accept)
on an event queue (``handles``), a batch consumer's queue
(``handles_batch``) and a service's RPC queue (``service_rpc``) are kept in
the dead letters and counted, never acknowledged and dropped; each consumer
goes on with the next good message."""
from __future__ import annotations

import base64
import time

import pytest
from kombu import Connection, Exchange
from nameko.standalone.rpc import ServiceRpcProxy
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, select

from kernel.batching import handles_batch, on_event_batch
from kernel.db import make_engine
from kernel.nameko import Database
from kernel.events import envelope, kernel_tables
from kernel.nameko import (
    DEAD_LETTER_QUEUE, DeadLetters, EntrypointMetrics, event_exchange, handles, on_event, service_rpc,
)
from kernel.testing import database_with, drain_queue, emptied_engine

metadata = MetaData()
tables = kernel_tables(metadata)
HANDLED: list[str] = []

NOT_UTF8 = b'{"id": "\xff\xfe\x00 not utf-8"}'
GARBAGE = b"\x00\x01<garbage> not json at all"
# JSON that decodes to what PostgreSQL cannot store as text: a NUL, a lone surrogate
NUL_STRING = b'"\\u0000 nul"'
SURROGATE = b'{"id": "\\ud800", "type": 1}'

class Poisoned:
    name = "kpoison"
    db = Database()
    dead_letters = DeadLetters(tables)
    metrics = EntrypointMetrics()

    @on_event("kpproducer", "thing_made")
    @handles("kpoison.thing_made", tables["processed_events"])
    def on_thing(self, session, env):
        HANDLED.append(env["id"])

    @on_event_batch("kpproducer", "things_made", max_batch=10, max_wait=0.01)
    @handles_batch("kpoison.things_made", tables["processed_events"])
    def on_things(self, session, envs):
        HANDLED.extend(env["id"] for env in envs)

    @service_rpc
    def echo(self, value):
        HANDLED.append(value)
        return value


@pytest.fixture(scope="module")
def db_url(pg_databases):
    return database_with(pg_databases, "kpoison", metadata)


@pytest.fixture
def service(container_factory, rabbit_config, db_url):
    HANDLED.clear()
    with emptied_engine(db_url, "outbox", "processed_events", "dead_letters"):
        pass
    container = container_factory(Poisoned, {**rabbit_config, "DATABASE_URL": db_url})
    container.start()
    engine = make_engine(db_url)
    yield rabbit_config["AMQP_URI"], engine
    engine.dispose()


def dead_counted(consumer: str) -> float:
    return REGISTRY.get_sample_value("ejournal_dead_letters_total", {"consumer": consumer}) or 0.0


def publish_raw(amqp_uri: str, exchange: Exchange, routing_key: str, body: bytes, content_type: str,
                **properties) -> None:
    with Connection(amqp_uri) as conn:
        conn.Producer(conn.default_channel).publish(body, exchange=exchange, routing_key=routing_key,
                                                    content_type=content_type, content_encoding="binary",
                                                    **properties)


def dead_letters_of(engine, consumer: str, n: int, good: str) -> list:
    """The dead letters of ``consumer`` once there are ``n`` of them and the
    good message ``good`` was handled after them (bounded wait)."""
    dead = tables["dead_letters"]
    rows = []
    for _ in range(100):  # 10 s
        with engine.connect() as conn:
            rows = conn.execute(select(dead).where(dead.c.consumer == consumer).order_by(dead.c.id)).all()
        if len(rows) >= n and good in HANDLED:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{consumer}: dead letters {rows}, handled {HANDLED}")


def assert_kept(rows, amqp_uri: str, consumer: str) -> None:
    """The two undecodable bodies exactly as they came (base64: neither is
    UTF-8 text PostgreSQL can keep), with why (in either order: each is kept
    as soon as it arrives); every dead letter also on the dead-letter queue."""
    raw = {base64.b64decode(r.body): r.error for r in rows if r.error.endswith("[body in base64]")}
    assert set(raw) == {NOT_UTF8, GARBAGE}
    assert all(e.startswith("undecodable: ") for e in raw.values())
    assert "DecodeError" in raw[NOT_UTF8] and "application/x-garbage" in raw[GARBAGE]
    # the copy is published after the row is stored: wait for it (bounded)
    copies, deadline = [], time.monotonic() + 15
    with Connection(amqp_uri) as conn:
        while True:
            copies += [m["body"] for m in drain_queue(conn, _dead_letter_queue()) if m["body"]["consumer"] == consumer]
            if len(copies) >= len(rows) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert sorted(c["body"] for c in copies) == sorted(r.body for r in rows)


def _dead_letter_queue():
    from kombu import Queue
    return Queue(DEAD_LETTER_QUEUE)


@pytest.mark.parametrize("event_type,consumer", [("thing_made", "kpoison.thing_made"),
                                                 ("things_made", "kpoison.things_made")])
def test_undecodable_events_are_dead_lettered_and_the_consumer_goes_on(service, event_type, consumer):
    amqp_uri, engine = service
    before = dead_counted(consumer)
    exchange = event_exchange("kpproducer")
    publish_raw(amqp_uri, exchange, event_type, NOT_UTF8, "application/json")
    publish_raw(amqp_uri, exchange, event_type, GARBAGE, "application/x-garbage")
    publish_raw(amqp_uri, exchange, event_type, NUL_STRING, "application/json")
    publish_raw(amqp_uri, exchange, event_type, SURROGATE, "application/json")
    good = envelope(type=event_type, producer="kpproducer", payload={}, school_id="s", actor_id=None)
    with Connection(amqp_uri) as conn:
        conn.Producer(conn.default_channel).publish(good, exchange=exchange, routing_key=event_type,
                                                    serializer="json")
    rows = dead_letters_of(engine, consumer, 4, good["id"])
    assert_kept(rows, amqp_uri, consumer)
    assert len(rows) == 4  # the NUL and the lone surrogate are kept too, escaped
    assert dead_counted(consumer) == before + 4
    assert HANDLED == [good["id"]]


def test_garbage_on_an_rpc_queue_is_dead_lettered_and_the_service_goes_on(service, rabbit_config):
    """Undecodable bodies, and deliveries that are no nameko request (which
    nameko answered with an error, or, without a reply_to, killed the
    container over), are dead-lettered and never run."""
    amqp_uri, engine = service
    before = dead_counted("kpoison.rpc")
    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    publish_raw(amqp_uri, exchange, "kpoison.echo", NOT_UTF8, "application/json", reply_to="nobody")
    publish_raw(amqp_uri, exchange, "kpoison.echo", GARBAGE, "application/x-garbage")
    publish_raw(amqp_uri, exchange, "kpoison.echo", NUL_STRING, "application/json")
    publish_raw(amqp_uri, exchange, "kpoison.echo", b"[1, 2]", "application/json", reply_to="nobody")
    publish_raw(amqp_uri, exchange, "kpoison.echo", b'{"args": ["ghost"], "kwargs": {}}', "application/json")
    publish_raw(amqp_uri, exchange, "kpoison.missing", b'{"args": [], "kwargs": {}}', "application/json")
    with ServiceRpcProxy("kpoison", rabbit_config, timeout=10) as proxy:
        assert proxy.echo("still here") == "still here"
    rows = dead_letters_of(engine, "kpoison.rpc", 6, "still here")
    assert_kept(rows, amqp_uri, "kpoison.rpc")
    malformed = sorted(r.error for r in rows if r.error.startswith("malformed request: "))
    assert malformed == ["malformed request: no reply_to"] * 3 + [
        "malformed request: the body is list, not an object"]
    assert dead_counted("kpoison.rpc") == before + 6
    assert HANDLED == ["still here"]  # the request without a reply_to was not run
