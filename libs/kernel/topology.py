"""Declare every service's durable event queues before any process starts:
``python -m kernel.topology`` (run by the launcher and compose's migrate step).

nameko declares a handler's queue only when its service starts, and RabbitMQ
drops an event published to an exchange with no queue bound. On a fresh vhost
the first events (the bootstrap admin's ``user_created``, say) would be lost
if the producer started first. Declaring the queues up front makes delivery
independent of start order.
"""
from __future__ import annotations

import importlib
import sys

from kombu import Connection

from kernel import config as settings_mod


def event_handlers(service_cls, nameko_config: dict) -> list:
    """``(container, entrypoint)`` of each of ``service_cls``'s event
    handlers, set up: ``entrypoint.queue`` is the kombu queue exactly as
    nameko builds it (same name, exchange, binding)."""
    from nameko.containers import ServiceContainer
    from nameko.events import EventHandler

    container = ServiceContainer(service_cls, nameko_config)
    handlers = []
    for entrypoint in container.entrypoints:
        if isinstance(entrypoint, EventHandler):
            entrypoint.setup()
            handlers.append((container, entrypoint))
    return handlers


def event_queues(service_cls, nameko_config: dict) -> list:
    """The kombu queues of ``service_cls``'s event handlers."""
    return [entrypoint.queue for _, entrypoint in event_handlers(service_cls, nameko_config)]


def declare(services=None) -> int:
    settings = settings_mod.load()
    count = 0
    with Connection(settings.amqp_uri) as conn:
        channel = conn.default_channel
        for name in services or settings_mod.SERVICES:
            module = importlib.import_module(f"{name}.service")
            for queue in event_queues(module.Service, settings.nameko_config(name)):
                queue(channel).declare()
                count += 1
    return count


def main(argv=None) -> int:
    argv = argv if argv is not None else sys.argv[1:]
    print(f"declared {declare(argv or None)} event queues")
    return 0


if __name__ == "__main__":
    sys.exit(main())
