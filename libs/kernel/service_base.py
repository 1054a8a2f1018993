"""The header every nameko service repeats, written once: its database, its
outbox and dead letters (over the service's own tables), its entrypoint
metrics and the ``health`` RPC.

    class Service(service_base(tables)):
        name = "reports"

nameko finds dependency providers and entrypoints on base classes too, so a
service declares only what is its own.
"""
from __future__ import annotations

from kernel.nameko import Database, DeadLetters, EntrypointMetrics, Outbox, service_rpc


def service_base(tables: dict) -> type:
    """A base class for a service whose outbox and dead letters live in ``tables``."""

    class ServiceBase:
        db = Database()
        outbox = Outbox(tables)
        dead_letters = DeadLetters(tables)
        metrics = EntrypointMetrics()

        @service_rpc
        def health(self):
            """Liveness of the nameko process: ``{"status": "ok", "service": <name>}``."""
            return {"status": "ok", "service": self.name}

    return ServiceBase
