"""Every queue of the platform survives poison: for each event handler of
every service (the topology ``python -m kernel.topology`` declares) and each
service's RPC queue, undecodable deliveries are dead-lettered (the
service's ``dead_letters`` table and the ``ejournal.dead-letters`` queue)
and counted (``ejournal_dead_letters_total``), and the consumer goes on with
the next message. The cases are generated from the services' own
entrypoints, so a new queue gets its test without anyone writing one.

Real services, real RabbitMQ (a vhost per test), real PostgreSQL (each
service's migrated database)."""
from __future__ import annotations

import importlib
import time

import pytest
from kombu import Connection, Exchange, Queue
from nameko.exceptions import RemoteError
from nameko.rpc import Rpc
from nameko.standalone.rpc import ServiceRpcProxy
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, select

from kernel.config import SERVICES
from kernel.db import make_engine
from kernel.events import envelope, kernel_tables
from kernel.nameko import DEAD_LETTER_QUEUE
from kernel.nameko.consumer import consumer_name
from kernel.testing import drain_queue, migrated_database
from kernel.topology import event_handlers

NOT_UTF8 = b'{"id": "\xff\xfe\x00 not utf-8"}'
GARBAGE = b"\x00\x01<garbage> not json at all"
TABLES = kernel_tables(MetaData())
# only to build the containers whose entrypoints are listed, never started
_LISTING_CONFIG = {"AMQP_URI": "memory://", "DATABASE_URL": "sqlite://"}


def _service_cls(service: str):
    return importlib.import_module(f"{service}.service").Service


def event_cases() -> list:
    """``(service, consumer, producer, event type)`` of every event handler."""
    cases = []
    for service in SERVICES:
        for container, handler in event_handlers(_service_cls(service), _LISTING_CONFIG):
            cases.append((service, consumer_name(container, handler), handler.source_service,
                          handler.event_type))
    return sorted(cases)


def rpc_services() -> list:
    """Every service with an RPC queue (``rpc-<service>``)."""
    from nameko.containers import ServiceContainer

    return [service for service in SERVICES
            if any(isinstance(ep, Rpc) for ep in ServiceContainer(_service_cls(service), _LISTING_CONFIG).entrypoints)]


EVENT_CASES = event_cases()


def test_the_topology_is_the_whole_platform():
    """Every service consumes something and the listing found the queues
    docs/events.md names (a guard against an empty parametrisation)."""
    assert set(rpc_services()) == set(SERVICES)
    consumed = {(producer, event_type) for _, _, producer, event_type in EVENT_CASES}
    assert {("journal", "mark_posted"), ("identity", "user_created"), ("gateway", "access_recorded_batch"),
            ("messaging", "message_sent")} <= consumed
    assert len({consumer for _, consumer, _, _ in EVENT_CASES}) == len(EVENT_CASES)


@pytest.fixture(scope="module")
def databases(pg_databases):
    """Each service's migrated database, made on first use."""
    made: dict[str, str] = {}

    def of(service: str) -> str:
        if service not in made:
            made[service] = migrated_database(pg_databases, service)
        return made[service]

    return of


@pytest.fixture
def start(container_factory, rabbit_config, databases, tmp_path):
    """Start one real service on a fresh vhost; its AMQP URI and an engine on its database."""
    engines = []

    def run(service: str):
        url = databases(service)
        config = {**rabbit_config, "DATABASE_URL": url, "EJOURNAL_SERVICE": service,
                  "DATA_DIR": str(tmp_path), "MAIL_DIR": str(tmp_path / "mail")}
        container_factory(_service_cls(service), config).start()
        engines.append(make_engine(url))
        return rabbit_config["AMQP_URI"], engines[-1]

    yield run
    for engine in engines:
        engine.dispose()


def counted(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def handled(consumer: str) -> float:
    """Deliveries ``consumer`` finished with (stored, dead-lettered or a duplicate)."""
    return sum(counted("ejournal_events_handled_total", consumer=consumer, result=r)
               for r in ("ok", "dead", "duplicate"))


def publish_raw(amqp_uri: str, exchange: Exchange, routing_key: str, body: bytes, content_type: str,
                **properties) -> None:
    with Connection(amqp_uri) as conn:
        conn.Producer(conn.default_channel).publish(body, exchange=exchange, routing_key=routing_key,
                                                    content_type=content_type, content_encoding="binary",
                                                    **properties)


def dead_letters(engine, consumer: str) -> list:
    dead = TABLES["dead_letters"]
    with engine.connect() as conn:
        return conn.execute(select(dead).where(dead.c.consumer == consumer).order_by(dead.c.id)).all()


def wait_for(check, what: str, seconds: float = 15.0):
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


def assert_undecodable_kept(engine, amqp_uri: str, consumer: str, n: int) -> list:
    """``n`` undecodable deliveries of ``consumer`` kept in its table, as
    they came (base64), and copied to the dead-letter queue."""
    rows = wait_for(lambda: (r := dead_letters(engine, consumer)) and len(r) >= n and r,
                    f"{n} dead letters of {consumer}")
    undecodable = [r for r in rows if r.error.startswith("undecodable: ")]
    assert len(undecodable) == 2 and all(r.error.endswith("[body in base64]") for r in undecodable)
    copies: list = []
    with Connection(amqp_uri) as conn:
        def copied():
            copies.extend(m["body"] for m in drain_queue(conn, Queue(DEAD_LETTER_QUEUE))
                          if m["body"]["consumer"] == consumer)
            return len(copies) >= len(rows)
        wait_for(copied, f"the dead-letter queue copies of {consumer}")
    return rows


@pytest.mark.parametrize("service,consumer,producer,event_type", EVENT_CASES,
                         ids=[case[1] for case in EVENT_CASES])
def test_poison_on_an_event_queue_is_dead_lettered_and_the_handler_goes_on(
        start, service, consumer, producer, event_type):
    amqp_uri, engine = start(service)
    dead_before = counted("ejournal_dead_letters_total", consumer=consumer)
    handled_before = handled(consumer)
    exchange = Exchange(f"{producer}.events", type="topic", durable=True)
    publish_raw(amqp_uri, exchange, event_type, NOT_UTF8, "application/json")
    publish_raw(amqp_uri, exchange, event_type, GARBAGE, "application/x-garbage")
    # then a well-formed envelope the handler itself must take (its payload
    # is empty: stored if the handler needs nothing of it, else dead-lettered
    # with the handler's own error, not "undecodable")
    nxt = envelope(type=event_type, producer=producer, payload={}, school_id=None, actor_id=None)
    with Connection(amqp_uri) as conn:
        conn.Producer(conn.default_channel).publish(nxt, exchange=exchange, routing_key=event_type,
                                                    serializer="json")
    wait_for(lambda: handled(consumer) >= handled_before + 3, f"{consumer} handled the next message")
    rows = dead_letters(engine, consumer)
    stored = counted("ejournal_events_handled_total", consumer=consumer, result="ok")
    next_dead = [r for r in rows if r.event_id == nxt["id"]]
    assert len(next_dead) == 1 or stored >= 1, f"{consumer}: the good envelope went nowhere"
    assert all(not r.error.startswith("undecodable") for r in next_dead)
    rows = assert_undecodable_kept(engine, amqp_uri, consumer, 2 + len(next_dead))
    assert len(rows) == 2 + len(next_dead)
    assert counted("ejournal_dead_letters_total", consumer=consumer) == dead_before + len(rows)


@pytest.mark.parametrize("service", rpc_services())
def test_poison_on_an_rpc_queue_is_dead_lettered_and_the_service_goes_on(start, rabbit_config, service):
    amqp_uri, engine = start(service)
    consumer = f"{service}.rpc"
    dead_before = counted("ejournal_dead_letters_total", consumer=consumer)
    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    publish_raw(amqp_uri, exchange, f"{service}.health", NOT_UTF8, "application/json", reply_to="nobody")
    publish_raw(amqp_uri, exchange, f"{service}.health", GARBAGE, "application/x-garbage")
    # a JSON request nameko would run with nowhere to answer
    publish_raw(amqp_uri, exchange, f"{service}.health", b'{"args": [], "kwargs": {}}', "application/json")
    with ServiceRpcProxy(service, rabbit_config, timeout=10) as proxy:
        try:
            answer = proxy.health()
        except RemoteError as exc:  # an answer all the same: the service is consuming
            answer = exc.exc_type
    assert answer
    rows = assert_undecodable_kept(engine, amqp_uri, consumer, 3)
    assert [r.error for r in rows if not r.error.startswith("undecodable")] == ["malformed request: no reply_to"]
    assert counted("ejournal_dead_letters_total", consumer=consumer) == dead_before + 3
