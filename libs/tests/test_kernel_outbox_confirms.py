"""The outbox relay publishes a batch and awaits its publisher confirms
together, on the real broker and the real PostgreSQL; a row is marked sent
only when the broker confirmed its message, so a refusal, a lost connection
or a missing confirm leaves it to the next try."""
from __future__ import annotations

import socket
import urllib.parse

import pytest
from eventlet.patcher import original
from kombu import Connection, Exchange, Queue
from sqlalchemy import MetaData, select

from kernel.db import transaction, session_factory
from kernel.events import envelope, kernel_tables, record
from kernel.nameko import Outbox, RelayIncomplete
from kernel.testing import database_with, drain_queue as drain, emptied_engine

tables = kernel_tables(MetaData())
OUTBOX = tables["outbox"]
SERVICE = "kconfirms"
EXCHANGE = Exchange(f"{SERVICE}.events", type="topic", durable=True)


@pytest.fixture(scope="module")
def db_url(pg_databases):
    return database_with(pg_databases, "outbox", OUTBOX.metadata)


@pytest.fixture
def engine(db_url):
    with emptied_engine(db_url, "outbox") as eng:
        yield eng


@pytest.fixture
def broker(rabbit_config):
    conn = Connection(rabbit_config["AMQP_URI"])
    EXCHANGE(conn.default_channel).declare()
    yield conn
    conn.release()


class Container:
    """What the relay reads of its nameko container."""

    def __init__(self, config: dict):
        self.service_name = SERVICE
        self.config = config


def relay(amqp_uri: str, db_url: str, **kw) -> Outbox:
    container = Container({"AMQP_URI": amqp_uri, "DATABASE_URL": db_url})
    outbox = Outbox(tables, **kw).bind(container, "outbox")
    outbox.keep_container = container  # the extension holds it weakly
    outbox.setup()
    return outbox


def write_events(engine, n: int) -> list[str]:
    envs = [envelope(type="thing_made", producer=SERVICE, payload={"n": i}, school_id="s1", actor_id="a1",
                     correlation_id=f"c{i}") for i in range(n)]
    with transaction(session_factory(engine)) as session:
        for env in envs:
            record(session, OUTBOX, env)
    return [env["id"] for env in envs]


def sent_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return [r.event_id for r in conn.execute(
            select(OUTBOX.c.event_id).where(OUTBOX.c.sent_at.is_not(None)).order_by(OUTBOX.c.seq))]


def bind_queue(broker, name: str, **arguments) -> Queue:
    queue = Queue(name, EXCHANGE, routing_key="thing_made", queue_arguments=arguments or None)
    queue(broker.default_channel).declare()
    return queue


# The proxy runs on real threads and sockets, outside eventlet's hub (the
# tests run monkey-patched): closing its sockets never leaves a green
# listener behind on a file descriptor the kernel hands out again.
_socket, _threading = original("socket"), original("threading")


class CuttingProxy:
    """A TCP proxy in front of the broker. ``mode`` "cut" closes both sides
    as soon as the client sends a Basic.Publish frame (nothing reaches the
    broker); "mute" forwards the publishes but swallows what the broker
    says back (its confirms never arrive); "pass" forwards everything."""

    PUBLISH = b"\x00\x3c\x00\x28"  # AMQP method frame: class 60 (basic), method 40 (publish)

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.mode = "pass"
        self.server = _socket.socket()
        self.server.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.sockets = []
        _threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = _socket.create_connection(self.target)
            self.sockets += [client, upstream]
            state = {"muted": False}
            _threading.Thread(target=self._pump, args=(client, upstream, state, True), daemon=True).start()
            _threading.Thread(target=self._pump, args=(upstream, client, state, False), daemon=True).start()

    def _pump(self, src, dst, state, from_client):
        try:
            while data := src.recv(65536):
                if from_client and self.PUBLISH in data:
                    if self.mode == "cut":
                        break
                    if self.mode == "mute":
                        state["muted"] = True
                if not from_client and state["muted"]:
                    continue
                dst.sendall(data)
        except (OSError, EOFError):  # the other side closed
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.server.close()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass


@pytest.fixture
def proxy(rabbit_config):
    parsed = urllib.parse.urlparse(rabbit_config["AMQP_URI"])
    p = CuttingProxy(parsed.hostname, parsed.port or 5672)
    p.uri = parsed._replace(netloc=f"{parsed.username}:{parsed.password}@127.0.0.1:{p.port}").geturl()
    yield p
    p.close()


def test_a_batch_is_published_whole_then_confirmed_together(rabbit_config, db_url, engine, broker):
    queue = bind_queue(broker, "confirms.all")
    ids = write_events(engine, 30)
    outbox = relay(rabbit_config["AMQP_URI"], db_url)
    outbox._confirm_channel()
    steps = []
    publish, drain_events = outbox._channel.basic_publish, outbox._conn.drain_events
    outbox._channel.basic_publish = lambda *a, **kw: (steps.append("publish"), publish(*a, **kw))[1]
    outbox._conn.drain_events = lambda *a, **kw: (steps.append("wait"), drain_events(*a, **kw))[1]

    assert outbox.relay_once() == 30
    # all 30 went out before the first wait for a confirm
    assert steps[:31] == ["publish"] * 30 + ["wait"]
    assert set(steps[30:]) == {"wait"}
    assert sent_ids(engine) == ids
    got = drain(broker, queue)
    assert [m["id"] for m in got] == ids
    assert [m["body"]["payload"]["n"] for m in got] == list(range(30))
    assert got[3]["headers"] == {"nameko.correlation_id": "c3"} and got[3]["content_type"] == "application/json"
    # the next batch goes over the same channel
    more = write_events(engine, 2)
    assert outbox.relay_once() == 2 and outbox.relay_once() == 0
    assert [m["id"] for m in drain(broker, queue)] == more
    outbox._disconnect()


def test_refused_messages_stay_unsent_and_are_retried(rabbit_config, db_url, engine, broker):
    # a full queue that rejects publishes: the broker nacks what it cannot take
    queue = bind_queue(broker, "confirms.small", **{"x-max-length": 2, "x-overflow": "reject-publish"})
    ids = write_events(engine, 5)
    outbox = relay(rabbit_config["AMQP_URI"], db_url)

    with pytest.raises(RelayIncomplete, match="3 of 5"):
        outbox.relay_once()
    assert sent_ids(engine) == ids[:2]
    assert [m["id"] for m in drain(broker, queue)] == ids[:2]

    with pytest.raises(RelayIncomplete, match="1 of 3"):  # room for two more
        outbox.relay_once()
    assert sent_ids(engine) == ids[:4]
    assert [m["id"] for m in drain(broker, queue)] == ids[2:4]
    assert outbox.relay_once() == 1
    assert [m["id"] for m in drain(broker, queue)] == ids[4:]
    assert sent_ids(engine) == ids and outbox.relay_once() == 0
    outbox._disconnect()


def test_an_unreachable_broker_leaves_every_row_unsent(db_url, engine):
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    write_events(engine, 3)
    outbox = relay(f"pyamqp://guest:guest@127.0.0.1:{port}//", db_url)
    with pytest.raises(OSError):
        outbox.relay_once()
    assert sent_ids(engine) == []


def test_a_connection_lost_while_publishing_leaves_the_rows_for_the_next_try(db_url, engine, broker, proxy):
    queue = bind_queue(broker, "confirms.cut")
    ids = write_events(engine, 5)
    outbox = relay(proxy.uri, db_url)
    proxy.mode = "cut"
    with pytest.raises(Exception):
        outbox.relay_once()
    assert sent_ids(engine) == []
    assert drain(broker, queue) == []

    proxy.mode = "pass"  # the relay reconnects and sends each once
    assert outbox.relay_once() == 5
    assert sent_ids(engine) == ids
    assert [m["id"] for m in drain(broker, queue)] == ids
    outbox._disconnect()


def test_missing_confirms_time_out_and_the_rows_are_published_again(db_url, engine, broker, proxy):
    queue = bind_queue(broker, "confirms.mute")
    ids = write_events(engine, 4)
    outbox = relay(proxy.uri, db_url, confirm_timeout=1.0)
    proxy.mode = "mute"
    with pytest.raises(TimeoutError):
        outbox.relay_once()
    # the broker may hold the messages, but unconfirmed rows are not sent
    assert sent_ids(engine) == []

    proxy.mode = "pass"
    assert outbox.relay_once() == 4
    assert sent_ids(engine) == ids
    # at least once: the unconfirmed copies and the confirmed ones
    assert [m["id"] for m in drain(broker, queue)] == ids + ids
    outbox._disconnect()


def test_the_oldest_unsent_row_is_measured_and_zero_once_the_broker_confirmed(db_url, engine, broker):
    """``ejournal_outbox_oldest_unsent_seconds``: the age of the oldest row
    the broker has not confirmed (what an alert on a stuck relay reads),
    0 once everything is sent."""
    import datetime as dt

    from prometheus_client import REGISTRY
    from sqlalchemy import update

    def measured() -> float:
        outbox._measured_at = float("-inf")  # not throttled in a test
        outbox._measure_backlog()
        return REGISTRY.get_sample_value("ejournal_outbox_oldest_unsent_seconds", {"service": SERVICE})

    write_events(engine, 2)
    with engine.begin() as conn:  # as if written ten minutes ago
        conn.execute(update(OUTBOX).values(created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)))
    outbox = relay(broker.as_uri(include_password=True), db_url)
    assert 600 <= measured() < 660
    assert outbox.relay_once() == 2
    assert measured() == 0.0


def test_the_relay_loop_does_not_query_again_after_a_short_batch(rabbit_config, db_url, engine, broker):
    """Full batches are followed by another query; a short one emptied the
    outbox as the relay saw it, and a later write wakes the relay itself."""
    import time

    import eventlet
    from sqlalchemy import event

    queue = bind_queue(broker, "confirms.loop")
    ids = write_events(engine, 5)
    outbox = relay(rabbit_config["AMQP_URI"], db_url, batch=2, poll=60.0)
    selects = []
    event.listen(outbox.engine, "before_cursor_execute", lambda conn, cursor, statement, *a: selects.append(
        statement) if statement.lstrip().upper().startswith("SELECT") and "outbox" in statement else None)

    def sent_all(expected, seconds=20.0):
        deadline = time.monotonic() + seconds
        while sent_ids(engine) != expected and time.monotonic() < deadline:
            eventlet.sleep(0.05)
        return sent_ids(engine) == expected

    outbox._running = True
    loop = eventlet.spawn(outbox._loop)
    try:
        assert sent_all(ids)
        eventlet.sleep(0.3)
        relayed = [s for s in selects if "sent_at IS NULL" in s and "min(" not in s]
        assert len(relayed) == 3  # 2 + 2 + 1 rows, and no empty query after the short batch
        more = write_events(engine, 1)
        outbox.kick()  # what a worker that wrote events does when it finishes
        assert sent_all(ids + more)
        eventlet.sleep(0.3)
        assert len([s for s in selects if "sent_at IS NULL" in s and "min(" not in s]) == 4
        assert [m["id"] for m in drain(broker, queue)] == ids + more
    finally:
        outbox.stop()
        loop.wait()
