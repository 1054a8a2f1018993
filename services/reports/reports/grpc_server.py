"""The reports gRPC process: ``python -m reports.grpc_server``.

Only the backup Export stream (kernel.export) and the standard health
service for now; reports are served over nameko RPC. A plain grpcio
process, never inside nameko (ARCHITECTURE.md "Runtime notes")."""
from __future__ import annotations

import sys

from kernel import config, grpcserver
from kernel.db import make_engine
from kernel.export import add_export_servicer
from kernel.metrics import db_health
from reports.store import Base

SERVICE = "reports"


def register_with(engine):
    """The ``register`` callback for :func:`kernel.grpcserver.serve`."""
    def register(server):
        return [add_export_servicer(server, engine, Base.metadata)]
    return register


def main() -> int:
    """Serve until SIGTERM/SIGINT."""
    settings = config.load()
    engine = make_engine(settings.database_url(SERVICE))
    grpcserver.serve(SERVICE, settings.port(f"{SERVICE}.grpc"), settings.port(f"{SERVICE}.grpc.metrics"),
                     register_with(engine), db_health(engine))
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
