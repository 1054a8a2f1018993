"""kernel.amqp_pool: nameko's Publisher on the real broker, without building
a kombu Connection per message, and with the pool nameko would have used
for each set of arguments (confirms or not)."""
from __future__ import annotations

import uuid

import kombu
from kombu import Connection, Exchange, Queue
from kombu.pools import producers
from nameko.amqp import publish
from nameko.amqp.publish import Publisher

from kernel import amqp_pool, patches
from kernel.testing import drain_queue


def test_publishes_reach_the_broker_without_a_connection_each(rabbit_config, monkeypatch):
    patches.install()
    uri = rabbit_config["AMQP_URI"]
    exchange = Exchange(f"kpool-{uuid.uuid4().hex[:8]}", type="topic", durable=False, auto_delete=True)
    queue = Queue(f"kpool-{uuid.uuid4().hex[:8]}", exchange, routing_key="thing", auto_delete=True)
    with Connection(uri) as conn:
        queue(conn.default_channel).declare()
        built = []
        real_init = kombu.Connection.__init__

        def counting_init(self, *args, **kwargs):
            built.append(args)
            real_init(self, *args, **kwargs)

        publisher = Publisher(uri, use_confirms=True)
        publisher.publish({"n": 0}, exchange=exchange, routing_key="thing")  # the first builds the template
        monkeypatch.setattr(kombu.Connection, "__init__", counting_init)
        for n in range(1, 21):
            publisher.publish({"n": n}, exchange=exchange, routing_key="thing")
        monkeypatch.undo()
        assert built == [], f"{len(built)} Connection() for 20 publishes"
        got = drain_queue(conn, queue)  # confirmed publishes: routed before the confirm came
        assert sorted(m["body"]["n"] for m in got) == list(range(21))


def test_one_template_per_set_of_arguments():
    patches.install()
    assert publish.get_producer is amqp_pool.get_producer
    uri = "amqp://guest:guest@127.0.0.1:5672/kpool-unused"
    confirmed = amqp_pool._template(uri, True, None, None, None)
    assert amqp_pool._template(uri, True, None, None, None) is confirmed
    unconfirmed = amqp_pool._template(uri, False, None, None, None)
    assert unconfirmed is not confirmed
    assert confirmed.transport_options["confirm_publish"] is True
    assert unconfirmed.transport_options["confirm_publish"] is False
    # kombu's own pools, as nameko's get_producer would have found them
    nameko_style = Connection(uri, transport_options={**publish.DEFAULT_TRANSPORT_OPTIONS, "confirm_publish": True})
    assert producers[nameko_style] is producers[confirmed]
