"""Item 7: access events leave the gateway over the real RabbitMQ with
publisher confirms, survive until a consumer reads them, and an
authenticated request produces exactly one."""
from __future__ import annotations

import json
import time

import pika
from ejournal.identity.v1 import identity_pb2

from gateway.access_log import EXCHANGE, AccessLog, access_event, pika_uri


def bound_queue(uri):
    connection = pika.BlockingConnection(pika.URLParameters(pika_uri(uri)))
    channel = connection.channel()
    channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True, auto_delete=False)
    queue = channel.queue_declare("access-test", durable=True).method.queue
    channel.queue_bind(queue, EXCHANGE, routing_key="access_recorded")
    return connection, channel, queue


def drain(channel, queue, want, timeout=10.0):
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.05)
            continue
        assert properties.delivery_mode == 2 and properties.content_type == "application/json"
        got.append(json.loads(body))
    return got


def test_events_are_published_persistently(rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    connection, channel, queue = bound_queue(uri)
    sink = AccessLog(uri)
    try:
        for n in range(5):
            sink.record(access_event(user_id=f"u{n}", school_id="s1", roles=["parent"], method="GET",
                                     route="/api/v1/students/<id>/diary", resource_id="st1", status=200,
                                     correlation_id=f"cid-{n}", address="127.0.0.1"))
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
