"""Access events leave the gateway over the real RabbitMQ with
publisher confirms, survive until a consumer reads them, and an
authenticated request produces exactly one. They travel in batches: one
``access_recorded_batch`` message carries the unchanged ``access_recorded``
envelopes of what gathered in the worker's queue."""
from __future__ import annotations

import json
import time

import pika
from ejournal.identity.v1 import identity_pb2

from gateway.access_log import BATCH_TYPE, EXCHANGE, AccessLog, access_event, pika_uri


def bound_queue(uri):
    connection = pika.BlockingConnection(pika.URLParameters(pika_uri(uri)))
    channel = connection.channel()
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True, auto_delete=False)
    queue = channel.queue_declare("access-test", durable=True).method.queue
    channel.queue_bind(queue, EXCHANGE, routing_key=BATCH_TYPE)
    return connection, channel, queue


def drain_messages(channel, queue, want_events, timeout=10.0):
    """The batch messages until ``want_events`` events have arrived."""
    messages, count, deadline = [], 0, time.monotonic() + timeout
    while count < want_events and time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.05)
            continue
        assert properties.delivery_mode == 2 and properties.content_type == "application/json"
        message = json.loads(body)
        assert method.routing_key == BATCH_TYPE and message["type"] == BATCH_TYPE
        assert properties.message_id == message["id"] and message["producer"] == "gateway"
        messages.append(message)
        count += len(message["payload"]["events"])
    return messages


def drain(channel, queue, want, timeout=10.0):
    """The access events (unpacked from their batches) until ``want`` arrived."""
    return [e for m in drain_messages(channel, queue, want, timeout) for e in m["payload"]["events"]]


def diary_read(n):
    return access_event(user_id=f"u{n}", school_id="s1", roles=["parent"], method="GET",
                        route="/api/v1/students/<id>/diary", resource_id="st1", status=200,
                        correlation_id=f"cid-{n}", address="127.0.0.1")


def test_events_are_published_persistently(rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    connection, channel, queue = bound_queue(uri)
    sink = AccessLog(uri)
    try:
        for n in range(5):
            sink.record(diary_read(n))
        got = drain(channel, queue, 5)
        assert [e["payload"]["user_id"] for e in got] == [f"u{n}" for n in range(5)]
        assert got[0]["type"] == "access_recorded" and got[0]["producer"] == "gateway"
        assert got[0]["correlation_id"] == "cid-0" and got[0]["school_id"] == "s1"
    finally:
        sink.close()
        connection.close()


def test_one_event_per_authenticated_request(rabbit_config, signing_key):
    from kernel import config as kernel_config
    from gateway.app import ACCESS_LOG, create_app
    from gateway_fakes import FakeClients, jwks_of

    uri = rabbit_config["AMQP_URI"]
    connection, channel, queue = bound_queue(uri)
    fake = FakeClients(jwks_of(signing_key))
    app = create_app({"TESTING": True, "SETTINGS": kernel_config.load(), "ACCESS_LOG": True,
                      "DECISION_INVALIDATION": False}, clients=fake)
    app.extensions[ACCESS_LOG].amqp_uri = uri
    client = app.test_client()
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(id="u1", login="x", full_name="X", roles=["teacher"])
    try:
        headers = {"Authorization": f"Bearer {signing_key.token(sub='u1', roles=['teacher'])}",
                   "X-Correlation-Id": "req-12345678"}
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        assert client.get("/api/v1/me").status_code == 401  # anonymous: nobody to record
        assert client.get("/healthz").status_code == 200
        (event,) = drain(channel, queue, 1)
        assert event["payload"]["user_id"] == "u1" and event["payload"]["route"] == "/api/v1/me"
        assert event["correlation_id"] == "req-12345678" and event["payload"]["status"] == 200
        time.sleep(0.5)
        assert drain(channel, queue, 1, timeout=0.5) == []
    finally:
        app.extensions[ACCESS_LOG].close()
        connection.close()


def test_a_burst_travels_in_few_messages_with_every_event(rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    connection, channel, queue = bound_queue(uri)
    sink = AccessLog(uri, max_batch=50, linger=0.2)
    try:
        for n in range(120):
            sink.record(diary_read(n))
        assert sink.flush(timeout=10)
        messages = drain_messages(channel, queue, 120)
        events = [e for m in messages for e in m["payload"]["events"]]
        assert [e["payload"]["user_id"] for e in events] == [f"u{n}" for n in range(120)]
        assert len({e["id"] for e in events}) == 120
        assert 3 <= len(messages) <= 10 and max(len(m["payload"]["events"]) for m in messages) <= 50
        # each event is the access_recorded envelope it always was
        assert all(e["type"] == "access_recorded" and set(e["payload"]) == {
            "user_id", "roles", "method", "route", "resource_id", "status", "address"} for e in events)
    finally:
        sink.close()
        connection.close()


def test_a_broker_outage_keeps_the_batch_until_confirmed(rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    connection, channel, queue = bound_queue(uri)
    sink = AccessLog("amqp://guest:guest@127.0.0.1:1/nowhere", retry_delay=0.1, linger=0.05)
    try:
        for n in range(3):
            sink.record(diary_read(n))
        time.sleep(0.5)
        assert not sink.flush(timeout=0.2)  # nothing confirmed: still owed
        sink.amqp_uri = uri  # the broker is back
        assert sink.flush(timeout=10)
        assert [e["payload"]["user_id"] for e in drain(channel, queue, 3)] == ["u0", "u1", "u2"]
    finally:
        sink.close()
        connection.close()


LATE_REQUEST = """
import sys, threading, time, types
from gateway.access_log import AccessLog, access_event
from gateway import gunicorn_conf

def event(n):
    return access_event(user_id=f"u{n}", school_id="s1", roles=["parent"], method="GET", route="/r",
                        resource_id=None, status=200, correlation_id=f"cid-{n}", address=None)

sink = AccessLog(sys.argv[1])
worker = types.SimpleNamespace(wsgi=types.SimpleNamespace(extensions={"ejournal.gateway.access_log": sink}))
gunicorn_conf.post_worker_init(worker)
sink.record(event(0))
gunicorn_conf.worker_exit(None, worker)

def still_answering():  # a request thread that ends after the hook
    time.sleep(0.3)
    sink.record(event(1))

threading.Thread(target=still_answering).start()
"""


def test_a_request_answered_after_the_exit_hook_still_has_its_event(rabbit_config, tmp_path):
    """A worker whose master was killed stops after its graceful timeout
    with requests still in flight: their events leave at interpreter exit
    (the worker's hooks as gunicorn calls them)."""
    import os
    import subprocess
    import sys

    uri = rabbit_config["AMQP_URI"]
    connection, channel, queue = bound_queue(uri)
    try:
        done = subprocess.run([sys.executable, "-c", LATE_REQUEST, uri], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "EJOURNAL_DATA_DIR": str(tmp_path)})
        assert done.returncode == 0, done.stderr
        assert [e["payload"]["user_id"] for e in drain(channel, queue, 2)] == ["u0", "u1"]
    finally:
        connection.close()
