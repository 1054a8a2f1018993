"""The gRPC process of a service that serves only the backup Export stream
(kernel.export) and the standard health service: a plain grpcio process,
never inside nameko. A service's ``grpc_server`` module calls
:func:`serve_exports` with its name and its tables' metadata.
"""
from __future__ import annotations

from kernel import config
from kernel.db import make_engine
from kernel.export import add_export_servicer
from kernel.grpcserver import serve
from kernel.metrics import db_health


def serve_exports(service: str, metadata) -> int:
    """Serve ``service``'s Export stream until SIGTERM/SIGINT; the exit code."""
    settings = config.load()
    engine = make_engine(settings.database_url(service))

    def register(server):
        return [add_export_servicer(server, engine, metadata)]

    try:
        serve(service, settings.port(f"{service}.grpc"), settings.port(f"{service}.grpc.metrics"),
              register, db_health(engine))
    finally:
        engine.dispose()
    return 0
