"""Item 6: a relationship event on the real RabbitMQ empties the gateway's
cache of access decisions at once (the 2 s lifetime is only the fallback)."""
from __future__ import annotations

import json
import time

import pika

from gateway.access_log import pika_uri
from gateway.api import DecisionCache
from gateway.invalidation import Invalidator


def wait(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def publish(uri, exchange, routing_key):
    connection = pika.BlockingConnection(pika.URLParameters(pika_uri(uri)))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True, auto_delete=False)
        channel.basic_publish(exchange, routing_key, json.dumps({"id": "x"}).encode())
    finally:
        connection.close()


def test_relationship_events_clear_the_cache_and_others_do_not(rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    cache = DecisionCache(max_age=3600)
    cache.invalidator = Invalidator(uri, cache.clear)
    try:
        assert cache.get("warm-up") is None  # starts the consumer
        assert cache.invalidator.ready.wait(10)
        cache.put("k", (True, ""))
        publish(uri, "journal.events", "mark_posted")  # not a relationship
        time.sleep(0.5)
        assert cache.get("k") == (True, "")
        publish(uri, "identity.events", "consent_recorded")
        assert wait(lambda: cache.get("k") is None)
        cache.put("k", (True, ""))
        publish(uri, "journal.events", "student_enrolled")
        assert wait(lambda: cache.get("k") is None)
    finally:
        cache.invalidator.close()
