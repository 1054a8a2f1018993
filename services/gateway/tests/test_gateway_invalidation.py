"""A relationship event on the real RabbitMQ empties the gateway's
cache of access decisions at once (the 2 s lifetime is only the fallback)."""
from __future__ import annotations

import json
import time

import pika

from gateway.access_log import pika_uri
from gateway.guard import DecisionCache
from gateway.invalidation import Invalidator


def wait(check, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def publish(uri, exchange, routing_key, body=None):
    connection = pika.BlockingConnection(pika.URLParameters(pika_uri(uri)))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True, auto_delete=False)
        channel.basic_publish(exchange, routing_key, json.dumps({"id": "x"}).encode() if body is None else body)
    finally:
        connection.close()


def dead_letters(uri) -> list[dict]:
    """The copies on the platform's dead-letter queue, taken off it."""
    connection = pika.BlockingConnection(pika.URLParameters(pika_uri(uri)))
    got = []
    try:
        channel = connection.channel()
        while True:
            method, _, body = channel.basic_get("ejournal.dead-letters", auto_ack=True)
            if method is None:
                return got
            got.append(json.loads(body))
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


def test_session_revocations_from_events():
    from gateway.invalidation import session_revocation

    def body(payload):
        return json.dumps({"occurred_at": "2026-11-29T10:00:00.700000+00:00", "payload": payload}).encode()

    at = 1795946400 + 1  # 2026-11-29T10:00:00Z: that whole second is refused
    assert session_revocation("consent_recorded", body({"parent_id": "p1", "given": False})) == ("p1", at)
    assert session_revocation("consent_recorded", body({"parent_id": "p1", "given": True})) is None
    assert session_revocation("roles_changed", body({"user_id": "u1", "roles": ["teacher"]})) == ("u1", at)
    assert session_revocation("student_enrolled", body({"student_id": "s1"})) is None
    assert session_revocation("roles_changed", b"not json") is None


def test_revocations_refuse_older_tokens_only_and_expire():
    from gateway.auth import Revocations
    from kernel.auth import Principal

    now = [1000.0]
    rev = Revocations(size=2, max_age=60, clock=lambda: now[0])
    rev.revoke("u1", 500)
    old, new = (Principal("u1", "s", ("parent",), issued_at=t) for t in (499, 500))
    assert rev.revoked(old) and not rev.revoked(new)
    assert not rev.revoked(Principal("u2", "s", ("parent",), issued_at=1))
    now[0] = 1060.0
    assert not rev.revoked(old)  # every token issued before is expired by now


def test_a_revoked_session_gets_401_through_the_app(rabbit_config, signing_key):
    from kernel import config as kernel_config
    from ejournal.identity.v1 import identity_pb2
    from gateway.app import create_app
    from gateway_fakes import FakeClients, jwks_of

    uri = rabbit_config["AMQP_URI"]
    fake = FakeClients(jwks_of(signing_key))
    settings = kernel_config.load()
    app = create_app({"TESTING": True, "SETTINGS": settings, "DECISION_INVALIDATION": True,
                      "ACCESS_LOG": False}, clients=fake)
    decisions = app.extensions["ejournal.gateway.decisions"]
    decisions.invalidator.amqp_uri = uri
    fake.identity.answers["GetProfile"] = identity_pb2.Profile(id="p1", login="x", full_name="X", roles=["parent"])
    client = app.test_client()
    token = signing_key.token(sub="p1", roles=["parent"])
    headers = {"Authorization": f"Bearer {token}"}
    try:
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        assert decisions.invalidator.ready.wait(10)
        occurred = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 2))
        connection = pika.BlockingConnection(pika.URLParameters(pika_uri(uri)))
        try:
            connection.channel().basic_publish("identity.events", "consent_recorded", json.dumps(
                {"occurred_at": occurred, "payload": {"parent_id": "p1", "given": False}}).encode())
        finally:
            connection.close()
        assert wait(lambda: client.get("/api/v1/me", headers=headers).status_code == 401)
    finally:
        decisions.invalidator.close()


def test_an_event_the_gateway_cannot_read_is_dead_lettered_counted_and_the_consumer_goes_on(rabbit_config):
    """A relationship event that is no readable envelope (not UTF-8, no
    payload, a sessions_revoked without its fields) still empties the cache
    (the safe side), is counted and copied to the dead-letter queue; a good
    event after it is handled."""
    from kernel.events import envelope
    from prometheus_client import REGISTRY

    def counted(event_type):
        return REGISTRY.get_sample_value("gateway_dead_letters_total", {"type": event_type}) or 0.0

    uri = rabbit_config["AMQP_URI"]
    cache = DecisionCache(max_age=3600)
    cache.invalidator = Invalidator(uri, lambda *_: cache.clear())
    before = {t: counted(t) for t in ("sessions_revoked", "roles_changed", "student_enrolled")}
    good = envelope(type="student_enrolled", producer="journal", payload={"student_id": "s1"},
                    school_id="s", actor_id=None)
    try:
        assert cache.get("warm-up") is None  # starts the consumer
        assert cache.invalidator.ready.wait(10)
        cache.put("k", (True, ""))
        publish(uri, "identity.events", "sessions_revoked", b'{"id": "\xff\xfe not utf-8"}')
        assert wait(lambda: cache.get("k") is None)
        cache.put("k", (True, ""))
        revoked = envelope(type="sessions_revoked", producer="identity", payload={"user_id": "u1"},
                           school_id="s", actor_id=None)  # no before/until: cannot be applied
        publish(uri, "identity.events", "sessions_revoked", json.dumps(revoked).encode())
        publish(uri, "identity.events", "roles_changed", b"\x00 garbage")
        assert wait(lambda: cache.get("k") is None)
        assert wait(lambda: counted("sessions_revoked") == before["sessions_revoked"] + 2
                    and counted("roles_changed") == before["roles_changed"] + 1)
        cache.put("k", (True, ""))
        publish(uri, "journal.events", "student_enrolled", json.dumps(good).encode())
        assert wait(lambda: cache.get("k") is None)
    finally:
        cache.invalidator.close()
    copies = []
    assert wait(lambda: copies.extend(dead_letters(uri)) or len(copies) >= 3)
    assert {c["consumer"] for c in copies} == {"gateway.invalidation"} and len(copies) == 3
    errors = sorted(c["error"] for c in copies)
    assert sum(e.endswith("[body in base64]") for e in errors) == 2  # the bytes exactly as they came
    assert any("before" in e for e in errors)  # the revocation without its fields, said why
    assert counted("student_enrolled") == before["student_enrolled"]  # the good one was read
