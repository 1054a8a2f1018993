"""RPC deadlines (kernel.deadline): a request its caller gave up on is not
carried out; on the real RabbitMQ with small kernel services."""
from __future__ import annotations

import json
import time
import uuid

import eventlet
import pytest
from kombu import Connection, Exchange, Queue
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy
from prometheus_client import REGISTRY

from kernel import deadline
from kernel.nameko import RpcProxy, service_rpc

CALLS: list = []


def expired_count(service: str, method: str) -> float:
    return REGISTRY.get_sample_value("ejournal_rpc_expired_total", {"service": service, "method": method}) or 0.0


# --- the rules, with plain values ----------------------------------------------------

def test_deadline_rules():
    now = 1_000_000.0
    assert deadline.seconds_late(now - 2.5, now=now) == 2.5
    assert deadline.seconds_late(now + 1, now=now) == 0.0
    # no deadline, or not a number: no deadline (a plain nameko caller)
    for value in (None, "soon", True, float("nan"), float("inf"), [1]):
        assert deadline.seconds_late(value, now=now) == 0.0
    # a worker's call waits at most its own timeout, and never past the
    # deadline of the request it serves
    assert deadline.wait_for(5, None, now=now) == 5
    assert deadline.wait_for(5, now + 2, now=now) == 2
    assert deadline.wait_for(5, now + 9, now=now) == 5
    assert deadline.wait_for(5, now - 1, now=now) == 0.0
    assert deadline.wait_for(5, "junk", now=now) == 5


# --- service_rpc refuses a late request ---------------------------------------------

class Recorder:
    name = "krecorder"

    @service_rpc
    def record(self, value, note=None):
        CALLS.append(value)
        return {"value": value, "note": note}


def publish_request(amqp_uri, service, method, args, *, headers, expiration=None) -> dict:
    """Publish one nameko RPC request by hand; its reply (a dict)."""
    exchange = Exchange("nameko-rpc", type="topic", durable=True)
    reply_key = uuid.uuid4().hex
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        replies = Queue(f"reply-{reply_key}", exchange, routing_key=reply_key, exclusive=True)(channel)
        replies.declare()
        conn.Producer(channel).publish(
            {"args": args, "kwargs": {}}, exchange=exchange, routing_key=f"{service}.{method}", serializer="json",
            reply_to=reply_key, correlation_id=reply_key, headers=headers, expiration=expiration)
        for _ in range(100):  # bounded: 10 s
            message = replies.get(no_ack=True)
            if message is not None:
                return json.loads(message.body)
            time.sleep(0.1)
    raise AssertionError("no reply")


def test_a_request_delivered_after_its_deadline_is_not_started(container_factory, rabbit_config):
    """A request that reaches its worker after its caller's deadline (it
    waited for a free worker, or was requeued) is answered 503 and counted,
    never run; the next one in time runs."""
    CALLS.clear()
    container = container_factory(Recorder, rabbit_config)
    container.start()
    before = expired_count("krecorder", "record")
    late = publish_request(rabbit_config["AMQP_URI"], "krecorder", "record", ["late"],
                           headers={deadline.DEADLINE_HEADER: time.time() - 3})
    assert late["result"] is None and late["error"]["exc_type"] == "DeadlineExceeded"
    assert json.loads(late["error"]["value"])["kind"] == "unavailable"
    assert CALLS == [] and expired_count("krecorder", "record") == before + 1

    in_time = publish_request(rabbit_config["AMQP_URI"], "krecorder", "record", ["in time"],
                              headers={deadline.DEADLINE_HEADER: time.time() + 30})
    assert in_time == {"result": {"value": "in time", "note": None}, "error": None}
    # nameko's signature check still sees the method's own arguments
    wrong = publish_request(rabbit_config["AMQP_URI"], "krecorder", "record", ["a", "b", "c"],
                            headers={deadline.DEADLINE_HEADER: time.time() + 30})
    assert wrong["error"]["exc_type"] == "IncorrectSignature"
    assert CALLS == ["in time"] and expired_count("krecorder", "record") == before + 1


# --- a service calling another passes the deadline on ---------------------------------

class Forwarder:
    name = "kforwarder"
    target = RpcProxy("ktarget", timeout=30)

    @service_rpc
    def forward(self):
        with eventlet.Timeout(0.3, False):  # nobody serves ktarget: the probe queue keeps the request
            self.target.ping()
        return "sent"


def test_a_call_from_a_worker_expires_with_the_earlier_deadline(container_factory, rabbit_config):
    probe = Queue("rpc-ktarget", Exchange("nameko-rpc", type="topic", durable=True), routing_key="ktarget.*",
                  durable=True)
    with Connection(rabbit_config["AMQP_URI"]) as conn:
        probe(conn.channel()).declare()
        container = container_factory(Forwarder, rabbit_config)
        container.start()
        with ClusterRpcProxy(rabbit_config, timeout=10) as cluster:
            # the request the forwarder serves has 5 s left: so has its call
            sent_at = time.time()
            proxy = deadline.DeadlineMethodProxy(cluster._worker_ctx, "kforwarder", "forward",
                                                 cluster._reply_listener, timeout=5)
            assert proxy() == "sent"
            inherited = probe(conn.channel()).get(no_ack=True)
            # a request without a deadline: the call's own 30 s
            assert cluster.kforwarder.forward() == "sent"
            own = probe(conn.channel()).get(no_ack=True)
    assert inherited is not None and own is not None
    assert sent_at + 4.5 < inherited.headers[deadline.DEADLINE_HEADER] <= sent_at + 5.5
    assert 4000 <= int(inherited.properties["expiration"]) <= 5000
    assert sent_at + 29 < own.headers[deadline.DEADLINE_HEADER] <= time.time() + 30
    assert 29000 <= int(own.properties["expiration"]) <= 30000
