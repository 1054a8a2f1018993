"""The reports gRPC process: ``python -m reports.grpc_server``, a plain
grpcio process (never inside nameko) serving

- ``ejournal.reports.v1.Reports/Document``: a report of any kind as a file
  (JSON, PDF, XLSX) streamed in chunks (reports.documents), for the
  gateway's ``GET /reports/{kind}``;
- the backup Export stream and the standard health service (kernel.export).
"""
from __future__ import annotations

import logging
import sys

import grpc

from ejournal.reports.v1 import reports_pb2, reports_pb2_grpc
from kernel import config
from kernel.db import make_engine, session_factory
from kernel.errors import ServiceError
from kernel.events import utcnow
from kernel.export import add_export_servicer
from kernel.grpcserver import abort, serve
from kernel.metrics import db_health
from reports import build, documents
from reports.store import Base

log = logging.getLogger(__name__)


class ReportsServicer(reports_pb2_grpc.ReportsServicer):
    """Built from a sessionmaker, the school's name and a clock, so tests
    can call it without a server."""

    def __init__(self, sessions, school_name: str, clock=utcnow):
        self.sessions = sessions
        self.school_name = school_name
        self.clock = clock

    def Document(self, request, context):
        ctx = {"actor_id": request.actor_id, "school_id": request.school_id, "roles": list(request.roles)}
        params = {name: getattr(request, name) or None for name in build.PARAMS}
        try:
            who = build.require_caller(ctx)
            with self.sessions() as session:
                doc = documents.produce(session, who, request.kind, params, request.format,
                                        school_name=self.school_name, now=self.clock())
        except ServiceError as exc:
            status = getattr(grpc.StatusCode, documents.GRPC_STATUS.get(exc.kind, "INVALID_ARGUMENT"))
            abort(context, status, exc.code, exc.message, exc.details)
            return
        first = True
        for piece in doc.chunks():
            if first:
                yield reports_pb2.DocumentChunk(data=piece, content_type=doc.content_type,
                                                filename_ascii=doc.filename_ascii, filename=doc.filename,
                                                size=len(doc.data))
                first = False
            else:
                yield reports_pb2.DocumentChunk(data=piece)


def main() -> int:
    settings = config.load()
    engine = make_engine(settings.database_url("reports"))
    sessions = session_factory(engine)

    def register(server):
        export_name = add_export_servicer(server, engine, Base.metadata)
        reports_pb2_grpc.add_ReportsServicer_to_server(ReportsServicer(sessions, settings.school_name), server)
        return [export_name, reports_pb2.DESCRIPTOR.services_by_name["Reports"].full_name]

    try:
        serve("reports", settings.port("reports.grpc"), settings.port("reports.grpc.metrics"), register,
              db_health(engine))
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
