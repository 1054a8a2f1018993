"""The messaging gRPC process (plain grpcio, never inside nameko): only the
backup Export stream and the standard health service.

Run with ``python -m messaging.grpc_server``.
"""
from __future__ import annotations

import sys

from kernel import config
from kernel.db import make_engine
from kernel.export import add_export_servicer
from kernel.grpcserver import serve
from kernel.metrics import db_health

from messaging.store import Base

SERVICE = "messaging"


def main() -> int:
    settings = config.load()
    engine = make_engine(settings.database_url(SERVICE))

    def register(server):
        return [add_export_servicer(server, engine, Base.metadata)]

    try:
        serve(SERVICE, settings.port(f"{SERVICE}.grpc"), settings.port(f"{SERVICE}.grpc.metrics"),
              register, db_health(engine))
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
